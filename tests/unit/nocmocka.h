/* tests/unit/nocmocka.h - forced into every cmocka test's compile (configure.ac's
 * CMOCKA_CFLAGS) when configure did not find cmocka: make check stops here with a
 * message naming the package, instead of with "cmocka.h: No such file".  make and
 * make install never compile a test, so a packager's build does not need cmocka. */
#error "cmocka was not found by configure: the unit tests need it (apt-get install libcmocka-dev, then ./configure again); make and make install do not"
