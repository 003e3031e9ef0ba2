"""What students see in feedback: results and failure messages, not the hidden tests."""
from nbgrader.preprocessors import NbGraderPreprocessor

from .notebooks import HIDDEN


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test source from test cells, and tracebacks (which quote it) from their errors."""

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and HIDDEN.search(cell.source):
            cell.source = HIDDEN.sub("# (hidden tests)\n", cell.source).rstrip()
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
