"""The class report: score distribution, per-test pass rates, submissions that need a look."""
import base64
import io
import statistics
from pathlib import PurePath

import jinja2


def plain(text):
    """``text`` with every character that is not printable (escape sequences, newlines, bidirectional overrides)
    written as its Python escape: a student's file names in a message stay inert on a terminal and in a report."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(text))


def spreadsheet_cell(text):
    """``plain(text)``, with a quote before a first character that would make a spreadsheet read a formula
    (``=HYPERLINK(...)`` as a student's file name): the OWASP rule for CSV files."""
    text = plain(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def pass_rates(results, points):
    """[(notebook, grade_id, passed, total)] of the auto-graded cells, lowest pass rate first; ``total`` counts the
    submissions that had the notebook graded (one that was missing or unreadable is a message of its own, not a
    failed test)."""
    rows = []
    written = {key for r in results for key in r.by_hand}  # graded by hand: reported on their own (awaiting_lines)
    for notebook, cells in points.items():
        takers = [r for r in results if r.graded is None or notebook in r.graded]
        for gid, max_points in cells.items():
            if (notebook, gid) in written:
                continue
            passed = sum(1 for r in takers if r.scores[notebook][gid][0] >= max_points)
            rows.append((notebook, gid, passed, len(takers)))
    return sorted(rows, key=lambda row: (row[2] / max(row[3], 1), row[0], row[1]))


def written_answers(results, points):
    """[(notebook, grade_id, max points, {state: count})] of the answers graded by hand, in the notebooks' order.

    Only students whose notebook was graded count (a missing notebook is a message of its own)."""
    from .gradebook import AWAITING, BLANK, GRADED
    keys = {key for r in results for key in r.by_hand}
    out = []
    for notebook, cells in points.items():
        for gid, max_points in cells.items():
            if (notebook, gid) in keys:
                counts = {AWAITING: 0, BLANK: 0, GRADED: 0}
                for r in results:
                    state = r.by_hand.get((notebook, gid))
                    if state:
                        counts[state] += 1
                out.append((notebook, gid, max_points, counts))
    return out


def awaiting_lines(results, points):
    """The report's lines on the written answers: how many await grading by hand, per question; [] if none exist."""
    from .gradebook import AWAITING, BLANK, GRADED
    rows = written_answers(results, points)
    if not rows:
        return []
    waiting = [r for r in results if not r.complete]
    head = (f"written answers graded by hand: {len(waiting)} submission(s) have answers awaiting grading, and their "
            "totals leave those points out until they are graded" if waiting else
            "written answers graded by hand: none awaits grading")
    lines = [head]
    for notebook, gid, max_points, counts in rows:
        lines.append(f"  {gid} ({notebook}, {max_points:g} point{'' if max_points == 1 else 's'}): {counts[AWAITING]} awaiting grading, "
                     f"{counts[GRADED]} graded, {counts[BLANK]} left blank (0 points)")
    return lines


def late_lines(results):
    """The report's lines on late work: who was late, by how much, and the penalty; [] if no one was."""
    from .term import lateness

    late = [r for r in results if r.seconds_late > 0]
    if not late:
        return []
    lines = [f"late submissions: {len(late)}, late penalties {sum(r.penalty for r in late):g} points in all "
             "(totals above are after the penalty)"]
    lines += [f"  {r.student}: {lateness(r.seconds_late)} late, penalty {r.penalty:g}" for r in late]
    return lines


def awaiting_text(result):
    """"" or what of ``result`` awaits grading by hand, for a spreadsheet cell or an LMS comment."""
    waiting = result.awaiting
    if not waiting:
        return ""
    return (f"{len(waiting)} written answer(s), {sum(m for _, _, m in waiting):g} points: "
            + ", ".join(gid for _, gid, _ in waiting))


def summary(results):
    totals = [r.total for r in results]
    if not totals:
        return {"count": 0, "mean": 0, "median": 0, "min": 0, "max": 0, "out_of": 0}
    return {"count": len(totals), "mean": statistics.mean(totals), "median": statistics.median(totals),
            "min": min(totals), "max": max(totals), "out_of": results[0].max_total}


def shard_status(results, shards):
    """[(problem or None, line)] for each shard of a sharded class (``gradebook.shards`` rows)."""
    if not shards:
        return []
    graded = {}
    for r in results:
        graded[r.shard] = graded.get(r.shard, 0) + 1
    counts = {int(row.shard.split("/")[1]) for row in shards}
    out = []
    if len(counts) > 1:
        out.append(("problem", f"shards of different counts ({', '.join(map(str, sorted(counts)))}) wrote to this "
                               "gradebook: every student must belong to exactly one shard of one count"))
    started = {row.shard for row in shards}
    for n in sorted(counts):
        out += [("problem", f"shard {k}/{n}: never started") for k in range(1, n + 1) if f"{k}/{n}" not in started]
    for row in shards:
        done = graded.get(row.shard, 0)
        state = "finished" if row.finished_at and done == row.students else "NOT FINISHED (running, or died: run it again)"
        out.append((None if state == "finished" else "problem",
                    f"shard {row.shard} on {row.host}: {done} of {row.students} students graded, {state}; "
                    f"output folder {row.out}"))
    return out


def feedback_places(results):
    """[(folder holding the students' folders, shard, count)], and how many students have none.

    A student's feedback folder is ``<folder>/<student>/batchnorm`` (nbgrader's feedback layout).
    """
    places = {}
    for r in results:
        if r.feedback:
            key = (str(PurePath(r.feedback).parents[1]), r.shard)
            places[key] = places.get(key, 0) + 1
    return [(folder, shard, n) for (folder, shard), n in sorted(places.items())], \
        sum(1 for r in results if not r.feedback)


def text_report(results, points, warning=None, shards=None):
    """The report as text; ``warning`` (grading without a sandbox) is its first line."""
    s = summary(results)
    lines = [warning, ""] if warning else []
    status = shard_status(results, shards)
    if status:
        lines += ["shards:"] + [f"  {'!! ' if problem else ''}{line}" for problem, line in status] + [""]
    lines += [f"{s['count']} submissions graded: mean {s['mean']:.1f}, median {s['median']:g}, "
             f"min {s['min']:g}, max {s['max']:g} (out of {s['out_of']:g})"]
    written = awaiting_lines(results, points)
    lines += [""] + written if written else []
    late = late_lines(results)
    lines += [""] + late if late else []
    lines += ["", "score distribution:"]
    out_of = s["out_of"] or 1
    bins = [0] * 10
    for r in results:
        bins[min(9, int(10 * r.total / out_of))] += 1
    for i, count in enumerate(bins):
        lines.append(f"  {10 * i:3d}-{10 * i + 9 if i < 9 else 100:3d}%  {'#' * count} {count}")
    lines += ["", "tests the class failed most (passed / submissions with the notebook):"]
    failed = [row for row in pass_rates(results, points) if row[2] < row[3]]
    for notebook, gid, passed, total in failed[:12]:
        lines.append(f"  {passed:3d}/{total:<3d} {gid}  ({notebook})")
    if not failed:
        lines.append("  none: every submission that had a notebook passed all its tests")
    look = [r for r in results if r.needs_look]
    lines += ["", f"needs an instructor's look ({len(look)}):"]
    for r in look:
        lines.append(f"  {r.student} ({r.total:g}/{r.max_total:g}{'' if r.complete else ', not complete'}):")
        lines += [f"    - {plain(text)}" for level, text in r.messages if level == "error"]
    noted = [r for r in results if any(level == "info" for level, _ in r.messages)]
    lines += ["", f"repaired or ignored on the way in ({len(noted)}):"]
    for r in noted:
        lines += [f"  {r.student}: {plain(text)}" for level, text in r.messages if level == "info"]
    places, without = feedback_places(results)
    lines += ["", "feedback pages (each student's folder: the feedback column of grades.csv):"]
    lines += [f"  {folder}/<student>/batchnorm/  {n} students (shard {shard})" for folder, shard, n in places]
    if without:
        lines.append(f"  none for {without} students (nothing gradable, or graded without feedback)")
    return "\n".join(lines) + "\n"


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _figures(results, points):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summary(results)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([r.total for r in results], bins=range(0, int(s["out_of"]) + 6, 5), color="tab:blue")
    ax.set_xlabel(f"score (out of {s['out_of']:g})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    hist = _png(fig)
    plt.close(fig)
    rows = pass_rates(results, points)
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(rows) + 1))
    ax.barh([gid for _, gid, _, _ in rows][::-1], [p / max(t, 1) for _, _, p, t in rows][::-1], color="tab:orange")
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of the class with full points")
    ax.set_title("Pass rate per test")
    ax.tick_params(axis="y", labelsize=7)
    rates = _png(fig)
    plt.close(fig)
    return hist, rates


TEMPLATE = jinja2.Template("""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Batch norm: class report</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.look{background:#fff3e0}</style></head><body>
{% if warning %}<p style="background:#fdd;padding:.5em;font-weight:bold">{{ warning }}</p>{% endif %}
<h1>Class report</h1>
{% if status %}<h2>Shards</h2><ul>{% for problem, line in status %}
<li{% if problem %} style="color:#b00;font-weight:bold"{% endif %}>{{ line }}</li>{% endfor %}</ul>{% endif %}
<p>{{ s.count }} submissions: mean {{ "%.1f"|format(s.mean) }}, median {{ num(s.median) }}, min {{ num(s.min) }},
max {{ num(s.max) }} (out of {{ num(s.out_of) }}).</p>
{% if late %}<p>{{ late[0] }}</p><ul>{% for line in late[1:] %}<li>{{ line.strip() }}</li>{% endfor %}</ul>
{% endif %}{% if written %}<p>{{ written[0] }}</p><ul>{% for line in written[1:] %}<li>{{ line.strip() }}</li>{% endfor %}</ul>
{% endif %}<img alt="score distribution" src="data:image/png;base64,{{ hist }}">
<h2>Needs an instructor's look ({{ look|length }})</h2>
<ul>{% for r in look %}<li><b>{{ r.student }}</b> ({{ num(r.total) }}/{{ num(r.max_total) }})<ul>
{% for level, text in r.messages if level == "error" %}<li>{{ plain(text) }}</li>{% endfor %}</ul></li>{% endfor %}</ul>
<h2>Pass rate per test</h2>
<img alt="pass rates" src="data:image/png;base64,{{ rates }}">
<h2>Grades</h2>
<table><tr><th>student</th>{% for n in notebooks %}<th>{{ n.split("_")[0] }}</th>{% endfor %}<th>score</th>
<th>awaiting grading by hand</th><th>feedback</th></tr>
{% for r in results %}<tr{% if r.needs_look %} class="look"{% endif %}><td>{{ r.student }}</td>
{% for n in notebooks %}<td>{{ num(r.scores[n].values()|map("first")|sum) }}</td>{% endfor %}
<td>{{ num(r.total) }}/{{ num(r.max_total) }}</td><td>{{ awaiting(r) or "-" }}</td>
<td>{% if r.feedback %}<a href="file://{{ r.feedback }}">{{ r.feedback }}</a>{% else %}none{% endif %}</td></tr>
{% endfor %}</table>
</body></html>
""", autoescape=True)


def html_report(results, points, warning=None, shards=None):
    hist, rates = _figures(results, points)
    return TEMPLATE.render(warning=warning, status=shard_status(results, shards), s=summary(results), hist=hist,
                           rates=rates, results=results, plain=plain, num=lambda v: f"{v:g}",
                           look=[r for r in results if r.needs_look], notebooks=list(points),
                           written=awaiting_lines(results, points), awaiting=awaiting_text,
                           late=late_lines(results))
