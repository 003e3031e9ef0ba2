"""What students see in feedback: results and failure messages, not the hidden tests."""
from nbgrader.preprocessors import NbGraderPreprocessor

from .notebooks import HIDDEN


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


def _redact(value):
    """Hidden blocks quoted anywhere in an output (text, data of every MIME type, tracebacks) are replaced."""
    if isinstance(value, str):
        return HIDDEN.sub("(hidden tests)\n", value) if "HIDDEN TESTS" in value else value
    if isinstance(value, list):
        value[:] = [_redact(v) for v in value]
    elif isinstance(value, dict):
        for key in value:
            value[key] = _redact(value[key])
    return value
