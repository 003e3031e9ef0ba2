"""What students see in feedback: results and failure messages, not the hidden tests."""
import json
import re
from pathlib import Path

import nbformat
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor

from .intake import FEEDBACK_CELL
from .notebooks import HIDDEN

# nbconvert's text for an image without one
NO_ALT = "No description has been provided for this image"
# what html.parser reads as markup: comments, script and style blocks (text, never tags), and start tags with their
# attributes (quoted values may hold ">" or "<img")
_ATTRIBUTE = r"""([^\s"'>/=]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]*))?"""
_MARKUP = re.compile(rf"<!--.*?-->|<(script|style)\b.*?</\1\s*>|<([a-zA-Z][^\s/>]*)((?:\s*/?\s*{_ATTRIBUTE})*)",
                     re.DOTALL | re.IGNORECASE)


# put above a written answer that no one has graded yet, on the student's page
AWAITING_NOTE = ("> **Awaiting grading by hand.** Your instructor has not graded this answer yet: until then it counts "
                 "as 0 in its score and in this notebook's total.\n\n")


class GetGradesNamingAwaiting(GetGrades):
    """nbgrader's ``GetGrades``; a written answer awaiting grading by hand says so above it, not only "0"."""

    def _get_score(self, cell, resources):
        from .gradebook import AWAITING, hand_state

        super()._get_score(cell, resources)
        if cell.cell_type == "markdown":
            grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                              self.assignment_id, self.student_id)
            if hand_state(grade) == AWAITING:
                cell.source = AWAITING_NOTE + cell.source


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test source from test cells, and tracebacks (which quote it) from their errors.

    Any output that quotes a hidden block (a later cell can print IPython's ``In`` history)
    has the block replaced too.
    """

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and HIDDEN.search(cell.source):
            cell.source = HIDDEN.sub("# (hidden tests)\n", cell.source).rstrip()
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            _redact(output)
        return cell, resources


# a hidden block as a repr or JSON shows it, its newlines escaped, or cut short
_QUOTED_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?(### END HIDDEN TESTS|$)", re.S)


def _redact(value):
    """Hidden blocks quoted anywhere in an output (text, data of every MIME type, tracebacks) are replaced."""
    if isinstance(value, str):
        if "HIDDEN TESTS" not in value:
            return value
        return _QUOTED_HIDDEN.sub("(hidden tests)", HIDDEN.sub("(hidden tests)\n", value))
    if isinstance(value, list):
        value[:] = [_redact(v) for v in value]
    elif isinstance(value, dict):
        for key in value:
            value[key] = _redact(value[key])
    return value


class _Remembered:
    """A ``Highlight2HTML`` filter that remembers the code it highlighted, in this process: most of a page's code
    cells are the lesson's own, the same on every student's page, and pygments takes half of what a page costs."""
    _seen = {}
    # entries, and characters of a cell worth remembering: the release's 112 code cells have at most 2,263; a class
    # cannot make a worker hold more than a few megabytes
    SIZE, LONGEST = 512, 4_000

    def __init__(self, highlight):
        self.highlight = highlight
        self.settings = (highlight.pygments_lexer, json.dumps(highlight.extra_formatter_options, sort_keys=True))

    def __call__(self, source, language=None, metadata=None):
        if len(source) > self.LONGEST:
            return self.highlight(source, language, metadata)
        # the metadata's only part that counts (nbconvert.filters.highlight._pygments_highlight)
        magics = metadata.get("magics_language") if metadata else None
        key = (source, language, magics, self.settings)
        if key not in self._seen:
            if len(self._seen) >= self.SIZE:
                self._seen.clear()
            self._seen[key] = self.highlight(source, language, metadata)
        return self._seen[key]


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page as ``HTMLExporter`` makes it, without its final BeautifulSoup pass.

    That pass parses and re-serialises the whole page (about half of a page's cost, in pure Python) to give images
    without one an ``alt`` text and ``jp-`` cells a ``tabindex``; nbgrader's feedback template (classic) has no
    ``jp-`` cells, and the ``alt`` text is added here directly. Code is highlighted once per process
    (``_Remembered``). The page parses to the same document (``tests/test_pipeline.py``).
    """

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter.from_notebook_node (nbconvert 7.17) up to its soup
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get("highlight_code",
                                          _Remembered(Highlight2HTML(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources)
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return _MARKUP.sub(_with_alt, page), resources

    def _preprocess(self, nb, resources):
        """The preprocessors, then the feedback notebook from what they left, as a file beside the page."""
        nb, resources = super()._preprocess(nb, resources)
        if "nbgrader" in resources and resources.get("unique_key"):
            resources.setdefault("outputs", {})[f"{resources['unique_key']}.ipynb"] = \
                nbformat.writes(feedback_notebook(nb, resources)).encode()
        return nb, resources


def _with_alt(markup):
    """An ``img`` start tag without an ``alt`` attribute gets nbconvert's; all other markup stays as it is."""
    tag, attributes = markup.group(2), markup.group(3) or ""
    if (tag or "").lower() != "img" or any(name.lower() == "alt" for name in re.findall(_ATTRIBUTE, attributes)):
        return markup.group(0)
    return f'<{tag} alt="{NO_ALT}"{attributes}'


# --- the student's own page: what intake saw, the total, each notebook --------------------------------------------

SUMMARY_PAGE = "00_summary.html"  # in the student's feedback folder; sorts first among the notebooks' pages

# (pattern of an instructor's message, what the student reads); a message no pattern matches is not shown to them
FOR_THE_STUDENT = [
    (r"^(?P<nb>\S+\.ipynb) is missing; scored 0$", "{nb} was not in your submission: 0 of {points} points."),
    (r"^(?P<nb>\S+\.ipynb): the locked test cell (?P<cell>\S+) was edited; graded with the original$",
     "{nb}: you edited the test cell {cell}; the original test was put back and graded your code."),
    (r"^(?P<nb>\S+\.ipynb): test cells (?P<cells>.+) were deleted; restored and graded$",
     "{nb}: you deleted the test cells {cells}; they were put back and graded your code."),
    (r"^(?P<file>.+) was renamed; graded as (?P<nb>\S+\.ipynb)$", "{file} was graded as {nb} (it had another name)."),
    (r"^(?P<file>.+) is not valid notebook JSON .*; scored 0$",
     "{file} could not be read as a notebook (a damaged file?): it scored 0."),
    (r"^(?P<file>.+) has no nbgrader metadata .*$",
     "{file} has lost the notebook's grading information (its cells copied into a new notebook?): it scored 0. "
     "Work in the notebook as it was handed out."),
    (r"^(?P<file>.+) is a feedback notebook .*$",
     "{file} is a feedback notebook (the graded copy of a notebook, handed back), not the notebook you worked in: it "
     "scored 0."),
    (r"^(?P<file>.+) is not a valid zip archive$", "{file} is not a zip archive that can be opened."),
    (r"^(?P<file>.+) is not a notebook; ignored$", "{file} is not a notebook: it was not graded."),
    (r"^(?P<file>.+) is an empty archive$", "{file} is an empty archive."),
    (r"^(?P<nb>\S+\.ipynb): (?P<cell>.+) ran past the per-cell time limit.*$",
     "{nb}: {cell} ran longer than the time limit for one cell and was stopped."),
    (r"^(?P<nb>\S+\.ipynb): ran past the whole-notebook limit.*$",
     "{nb}: the notebook ran longer than the time limit and scored 0."),
    (r"^(?P<nb>\S+\.ipynb): the kernel died.*$", "{nb}: Python stopped while your notebook ran (os._exit, a crash or "
                                                 "too much memory); the tests it did not reach scored 0."),
    (r"^(?P<nb>\S+\.ipynb): a cell ran out of memory.*$", "{nb}: a cell used more memory than allowed."),
    (r"^(?P<nb>\S+\.ipynb): the notebook calls sys.exit\(\)$", "{nb}: the notebook calls sys.exit()."),
    (r"^submitted .* after the due date \(Canvas's LATE mark.*$",
     "Canvas marked your submission late; a late submission counts as one day late."),
    (r"^submitted (?P<late>.+) after the due date .*$", "Submitted {late} after the due date."),
]


_UNITS = {"d": "day", "h": "hour", "min": "minute", "s": "second"}


def _spelled(duration):
    """``term.lateness``'s "1 d 3 h" as "1 day 3 hours"."""
    return re.sub(r"(\d+) (d|h|min|s)\b", lambda m: f"{m[1]} {_UNITS[m[2]]}{'' if m[1] == '1' else 's'}", duration)


def for_the_student(text, points):
    """What a student reads of one of their grading messages, or None (instructor-only)."""
    for pattern, words in FOR_THE_STUDENT:
        match = re.match(pattern, text, re.S)
        if match:
            found = match.groupdict()
            if "late" in found:
                found["late"] = _spelled(found["late"])
            notebook = found.get("nb", "").removesuffix(".ipynb")
            return words.format(**found, points=f"{sum(points.get(notebook, {}).values()):g}")
    return None


# the summary as it opens each notebook's page and feedback notebook (write_summary puts it there, again at each run)
SUMMARY_START, SUMMARY_END = "<!-- batchnorm: your results -->", "<!-- /batchnorm: your results -->"
SUMMARY_IN_PAGE = re.compile(re.escape(SUMMARY_START) + ".*?" + re.escape(SUMMARY_END) + "\n?", re.S)
_TEMPLATES = {}


def _template(name):
    if name not in _TEMPLATES:
        import jinja2
        _TEMPLATES[name] = jinja2.Template(_TEMPLATE_TEXT[name], autoescape=True)
    return _TEMPLATES[name]


_TEMPLATE_TEXT = {
    # what the student reads first, wherever they open their feedback; links only where the pages are beside it
    "results": """<h1>Batch norm: your results</h1>
<p><b>Total: {{ num(r.total) }} of {{ num(r.max_total) }} points</b>{% if r.penalty %} (after a late penalty of
{{ num(r.penalty) }} points){% endif %}.</p>
{% if waiting %}<p class="note">Not complete yet: {{ waiting|length }} written answer(s), {{ num(waiting_points) }}
points, await grading by your instructor ({{ waiting_where }}); they count as 0 in the total until then.</p>{% endif %}
{% if said %}<h2>About your submission</h2><ul>{% for text in said %}<li>{{ text }}</li>{% endfor %}</ul>{% endif %}
<h2>Each notebook</h2>
<table><tr><th>notebook</th><th>points</th>{% if links %}<th>results</th>{% endif %}</tr>
{% for nb, got, out_of, page, pending in rows %}<tr><td>{{ nb }}</td><td>{{ num(got) }} / {{ num(out_of) }}{% if pending %}
({{ num(pending) }} awaiting grading){% endif %}</td>
{% if links %}<td>{% if page %}<a href="{{ page }}">{{ page }}</a>{% else %}not graded{% endif %}</td>{% endif %}</tr>
{% endfor %}</table>
""",
    "page": """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Batch norm: your results</title>
<style>body{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.4}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.note{background:#fff3e0;padding:.5em}</style></head>
<body>
{{ results }}
<p>Each notebook's page shows every test: what passed, and for what failed, its message.</p>
</body></html>
""",
    "in_page": """{{ start }}
<style>.bn-results td,.bn-results th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.bn-results table{border-collapse:collapse}.bn-results .note{background:#fff3e0;padding:.5em}</style>
<div class="bn-results" style="font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em 1em;border:1px solid #ccc">
{{ results }}
<p>Below: this notebook, each test with what passed, and for what failed, its message.</p>
</div>
{{ end }}
""",
}


def write_summary(result, points):
    """The student's results, from their result alone: the total, the late penalty, written answers awaiting
    grading, what intake saw (in words for them; messages meant for the instructor are left out), and each
    notebook's points. Written as the page ``SUMMARY_PAGE`` in their feedback folder (``result.feedback``), at the
    top of each notebook's page there (all a hub student fetches), and as the first cell of each feedback notebook
    there (what Canvas hands back, ``lms``)."""
    from markupsafe import Markup

    folder = Path(result.feedback)
    waiting = result.awaiting
    rows = [(nb, sum(s for s, _ in result.scores[nb].values()), sum(points[nb].values()),
             f"{nb}.html" if (folder / f"{nb}.html").exists() else None,
             sum(m for n, _, m in waiting if n == nb)) for nb in points]
    said = [t for t in (for_the_student(text, points) for _, text in result.messages) if t]

    def results(links):
        return Markup(_template("results").render(
            r=result, rows=rows, said=said, waiting=waiting, links=links, num=lambda v: f"{v:g}",
            waiting_points=sum(m for _, _, m in waiting), waiting_where=", ".join(sorted({n for n, _, _ in waiting}))))

    (folder / SUMMARY_PAGE).write_text(_template("page").render(results=results(True)))
    block = _template("in_page").render(results=results(True), start=Markup(SUMMARY_START), end=Markup(SUMMARY_END))
    for nb in points:
        page, notebook = folder / f"{nb}.html", folder / f"{nb}.ipynb"
        if page.exists():
            text = SUMMARY_IN_PAGE.sub("", page.read_text())
            page.write_text(re.sub(r"<body[^>]*>\n?", lambda m: m.group(0) + block, text, count=1))
        if notebook.exists():
            feedback_nb = nbformat.read(notebook, as_version=4)
            first = feedback_nb.cells[0]
            if first.metadata.get("batchnorm") == FEEDBACK_CELL:
                first.source = FEEDBACK_NOTEBOOK_HEAD.format(nb=nb) + str(results(False))
                nbformat.write(feedback_nb, notebook)
    return folder / SUMMARY_PAGE


# --- the feedback notebook: the student's notebook as graded, for an LMS that hands back a file under the name of
# the upload it answers (Canvas's "Re-Upload Submissions", ``lms``) ---------------------------------------------

FEEDBACK_NOTEBOOK_HEAD = ("**Feedback on your {nb}.** This is your notebook as it was graded, not a copy to work in: "
                          "the points of each test are above it, and a failed test's message is in its output.\n\n")


def feedback_notebook(nb, resources):
    """The graded notebook ``nb`` as the feedback preprocessors left it (hidden tests hidden, written answers
    awaiting grading marked), with each graded cell's points in a markdown cell above it, and a first cell
    (metadata ``{"batchnorm": FEEDBACK_CELL}``) that ``write_summary`` fills with the results. nbgrader's metadata
    is left out: a feedback notebook is never taken for a submission."""
    name = resources.get("unique_key", "notebook")
    cells = [nbformat.v4.new_markdown_cell(FEEDBACK_NOTEBOOK_HEAD.format(nb=name), metadata={"batchnorm": FEEDBACK_CELL})]
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        notes = []
        if meta.get("grade"):
            score, out_of = meta.get("score"), meta.get("points", 0)
            notes.append(f"**Test `{meta.get('grade_id')}`: {'awaiting grading' if score is None else f'{score:g}'} of "
                         f"{out_of:g} point{'' if out_of == 1 else 's'}**")
        if meta.get("comment"):  # a grader's comment, on a graded or a solution cell
            notes.append("> " + "\n> ".join(str(meta["comment"]).splitlines()))
        if notes:
            cells.append(nbformat.v4.new_markdown_cell("\n\n".join(notes), metadata={"batchnorm": "points"}))
        copy = nbformat.from_dict(dict(cell))
        copy.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items() if k != "nbgrader"})
        cells.append(copy)
    for cell in cells:  # feedback, not a copy to work in: JupyterLab opens every cell read-only
        cell.metadata.update(editable=False, deletable=False)
    keep = {k: nb.metadata[k] for k in ("kernelspec", "language_info") if k in nb.metadata}
    return nbformat.v4.new_notebook(cells=cells, metadata=keep)
