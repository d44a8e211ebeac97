# debian/unit-tests.mk - read together with the build tree's Makefile
# (make -f Makefile -f debian/unit-tests.mk print-unit-tests): the tests that
# are programs built for `make check`, i.e. the cmocka unit tests and the fuzz
# corpus replays, without the shell, miltertest, Postfix and Dovecot tests.
print-unit-tests:
	@echo $(filter $(check_PROGRAMS),$(TESTS))
