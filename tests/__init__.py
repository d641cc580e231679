"""chat311's tests (helpers in tests/support/)."""

import pytest

# The helpers in tests/support assert too: rewrite their asserts like a test module's, so a failing
# one shows its values. Registered here, before anything imports tests.support.
pytest.register_assert_rewrite("tests.support")
