"""A send and a settlement stay within their database statement budgets (issue 14).

The counting test is pg_cases/statement_counts_case.py, run here in a pytest subprocess on a
throwaway PostgreSQL server with a Redis limiter: the budgets are PostgreSQL's.
"""

import re
from pathlib import Path

from tests.pg import ROOT, pytest_on_postgresql

CASE = Path(__file__).parent / "pg_cases" / "statement_counts_case.py"


def test_send_and_settlement_statement_counts_on_postgresql():
    done = pytest_on_postgresql(str(CASE.relative_to(ROOT)), "-o", "python_files=*_case.py", "-s")
    assert done.returncode == 0, f"the PostgreSQL run failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"\b1 passed", done.stdout), done.stdout
