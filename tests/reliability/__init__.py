"""Reliability tests: embedding (handle exchange, valgrind, wheel), concurrency, faults, leaks and
bad inputs. Run by ``make test`` with the rest of the suite."""
