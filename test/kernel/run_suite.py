"""Run the kernel test suite and print one JSON line per test: {"test": name, "status": ok|fail|error|skip, "detail": ...}.

Used by test/kernel.test.ts (mocha), which reports each Python test as its own case.
    /usr/bin/python3 run_suite.py [TestClass.test_name ...]
"""
import json
import sys
import unittest

import test_tsdl_kernel


class JsonResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.rows = {}

    def _set(self, test, status, detail=""):
        name = test.id().split(".")[-1]
        if not name.startswith("test"):
            name = "setUpClass"  # an error before any test ran: "setUpClass (module.Class)"
        prev = self.rows.get(name)
        # A failing subTest makes the whole test fail.
        if prev is None or prev["status"] == "ok":
            self.rows[name] = {"test": name, "status": status, "detail": detail}

    def addSuccess(self, test):
        self._set(test, "ok")

    def addFailure(self, test, err):
        self._set(test, "fail", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        self._set(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        self._set(test, "skip", reason)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            status = "fail" if issubclass(err[0], test.failureException) else "error"
            self._set(test, status, f"{subtest}: {self._exc_info_to_string(err, test)}")


def main():
    loader = unittest.TestLoader()
    if len(sys.argv) > 1:
        suite = loader.loadTestsFromNames(sys.argv[1:], test_tsdl_kernel)
    else:
        suite = loader.loadTestsFromModule(test_tsdl_kernel)
    result = JsonResult()
    suite.run(result)
    for row in result.rows.values():
        print(json.dumps(row), flush=True)
    # Errors in setUpClass (the kernel did not start) are reported on the class.
    for test, err in result.errors:
        if not hasattr(test, "id") or "setUpClass" in str(test):
            print(json.dumps({"test": "setUpClass", "status": "error", "detail": err}), flush=True)


if __name__ == "__main__":
    main()
