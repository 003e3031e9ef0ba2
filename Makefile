# One command per job. Every target creates .venv from the pinned requirements.txt first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
READY  := $(VENV)/.ready
ASSIGNMENT := batchnorm
# the installer that makes .venv, pinned like everything else
UV     := uv==0.13.9

# nbgrader calls `alembic`, and kernels start `python`: both must come from .venv
export PATH := $(BIN):$(PATH)
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help test demo grade bench lab assignment release exchange-demo venv clean

help:                     ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):[^#]*## /  make \1\t/' | expand -t 22

test: $(READY)            ## everything CI checks
	$(BIN)/python -m pytest

demo: $(READY)            ## grade a sample class on the embedded default (SQLite)
	$(BIN)/python -m autograder.demo

grade: $(READY)           ## grade a class: make grade SUBMISSIONS=<folder or zip> [OUT=dir] [DUE=iso] [LATE_POLICY=10%/day,max50%] [EXTENSIONS=csv] [MOODLE_WORKSHEET=csv] [STUDENT="id ..."] [DB_URL=url] [WORKERS=n] [NO_SANDBOX=1]
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder or zip> [OUT=dir] [DUE=2026-12-01T23:59+01:00] [LATE_POLICY=10%/day,max50%] [EXTENSIONS=extensions.csv] [STUDENT=\"id ...\"] [WORKERS=n]"; exit 2; }
	$(BIN)/python -m autograder grade "$(SUBMISSIONS)" $(if $(OUT),--out "$(OUT)") $(if $(WORKERS),--workers $(WORKERS)) \
	  $(if $(NO_SANDBOX),--no-sandbox) $(foreach s,$(STUDENT),--student "$(s)") $(if $(DUE),--due "$(DUE)") \
	  $(if $(LATE_POLICY),--late-policy "$(LATE_POLICY)") $(if $(EXTENSIONS),--extensions "$(EXTENSIONS)") \
	  $(if $(MOODLE_WORKSHEET),--moodle-worksheet "$(MOODLE_WORKSHEET)") $(if $(DB_URL),--db-url "$(DB_URL)")

exchange-demo: $(READY)   ## nbgrader's exchange end to end: release, 2 students fetch and submit, collect, make grade
	$(BIN)/python -m autograder.exchange_demo

bench: $(READY)           ## grading cost per notebook, and parallel vs sequential nbgrader throughput
	$(BIN)/python -m autograder.bench

lab: $(READY)             ## open the student release in JupyterLab
	$(BIN)/jupyter lab course/$(ASSIGNMENT)

assignment: $(READY)      ## regenerate course/ from solutions/
	$(BIN)/nbgrader generate_assignment $(ASSIGNMENT) --force

release: assignment       ## the student zip, build/release/batchnorm.zip, from a freshly generated course/
	$(BIN)/python -m autograder.release

venv: $(READY)            ## the virtual environment .venv from the pinned requirements.txt (every target makes it first)

$(READY): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# uv installs the pins in parallel, bytecode compiled (kernels see .venv read-only): seconds where pip takes half
	# a minute. pip is the fallback where uv cannot be had or cannot reach the index (uv ignores pip.conf)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(UV) \
	  && $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -r requirements.txt \
	  || { echo "uv could not install requirements.txt: installing it with pip"; \
	       $(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt; }
	# make this folder importable (the `autograder` package) from every kernel of .venv
	echo "$(CURDIR)" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/batchnorm_course.pth"
	touch $@

clean:                    ## remove build/ (demos, the release zip) but a term's build/grading; FORCE=1 removes it too
	@if [ -d build/grading ] && [ -z "$(FORCE)" ]; then \
	  find build -mindepth 1 -maxdepth 1 ! -name grading -exec rm -rf {} +; \
	  echo "kept build/grading (a graded class: its gradebook, grades by hand, feedback); make clean FORCE=1 removes it"; \
	else rm -rf build; fi
	rm -rf .pytest_cache
