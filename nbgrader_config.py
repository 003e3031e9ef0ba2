# nbgrader settings for this course; plain `nbgrader ...` commands work from this folder.
# The settings themselves live in autograder/course.py, shared with the tests and the demo.
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from autograder.grading.course import configure  # noqa: E402

# On a shared JupyterHub, nbgrader's exchange (release_assignment, collect) is a folder every user can reach:
# nbgrader's default is /srv/nbgrader/exchange; to choose another, add exchange_root="/path/to/exchange".
configure(c, root=here)  # noqa: F821  (`c` is nbgrader's config object)
