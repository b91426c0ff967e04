// Unit tests: no kernel, no root, no namespaces. Each *_test.cpp covers one
// stage of the data flow (manifests -> desired -> plan -> maps).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
