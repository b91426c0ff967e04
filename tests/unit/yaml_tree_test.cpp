// The tree libyaml's events build: what the manifest parsers rely on.
#include <doctest/doctest.h>

#include <string>

#include "manifests/yaml_tree.h"

using namespace socklb;

namespace {

const YamlNode& at(const YamlNode* map, const char* key) {
  const YamlNode* n = map ? map->find(key) : nullptr;
  REQUIRE_MESSAGE(n, "no key " << key);
  return *n;
}

}  // namespace

TEST_CASE("scalars: plain or quoted, nulls in every spelling, lines") {
  auto doc = load_yaml_document("a: 80\nb: \"80\"\nc: '80'\nd: !!str 80\ne:\nf: ~\ng: null\nh: NULL\ni: \"null\"\n");
  const YamlNode* root = doc->root();
  REQUIRE(root);
  CHECK(root->type == YamlNode::Type::Map);
  CHECK(at(root, "a").plain);
  CHECK(at(root, "a").scalar == "80");
  CHECK_FALSE(at(root, "b").plain);
  CHECK_FALSE(at(root, "c").plain);
  CHECK_FALSE(at(root, "d").plain);  // tagged: a string, whatever it looks like
  for (const char* key : {"e", "f", "g", "h"}) CHECK_MESSAGE(at(root, key).type == YamlNode::Type::Null, key);
  CHECK(at(root, "i").type == YamlNode::Type::Scalar);  // quoted: the text "null"
  CHECK(at(root, "a").line == 0);
  CHECK(at(root, "i").line == 8);
}

TEST_CASE("sequences, flow collections and JSON") {
  auto doc = load_yaml_document(R"({"ports": [{"port": 80}, {"port": 443}], "empty": []})");
  const YamlNode& ports = at(doc->root(), "ports");
  REQUIRE(ports.type == YamlNode::Type::Sequence);
  REQUIRE(ports.children.size() == 2);
  CHECK(at(ports.children[1], "port").scalar == "443");
  CHECK(at(doc->root(), "empty").children.empty());
}

TEST_CASE("an alias is its anchored node; an alias before its anchor is complete is an error") {
  auto doc = load_yaml_document("base: &b {app: web}\nselector: *b\n");
  CHECK(&at(doc->root(), "selector") == &at(doc->root(), "base"));
  CHECK_THROWS_AS(load_yaml_document("a: *nowhere\n"), YamlSyntaxError);
  CHECK_THROWS_AS(load_yaml_document("a: &self [*self]\n"), YamlSyntaxError);
}

TEST_CASE("an empty document has no root; only the first document is read") {
  CHECK(load_yaml_document("")->root() == nullptr);
  CHECK(load_yaml_document("# only a comment\n")->root() == nullptr);
  auto doc = load_yaml_document("a: 1\n---\nb: 2\n");
  CHECK(doc->root()->find("b") == nullptr);
}

TEST_CASE("syntax errors name their line") {
  try {
    load_yaml_document("a: 1\nb: {c: 2\n");
    FAIL("no error");
  } catch (const YamlSyntaxError& e) {
    CHECK(e.line() >= 1);
    CHECK(std::string(e.what()).find("flow mapping") != std::string::npos);
  }
  CHECK_THROWS_AS(load_yaml_document("a:\n\t- tab\n"), YamlSyntaxError);
}

TEST_CASE("nesting stops at 500 levels, with the line where it did") {
  CHECK(load_yaml_document(std::string(499, '[') + std::string(499, ']'))->root());
  try {
    load_yaml_document("a: 1\nb: " + std::string(100000, '[') + std::string(100000, ']') + "\n");
    FAIL("no error");
  } catch (const YamlSyntaxError& e) {
    CHECK(std::string(e.what()).find("nested too deeply") == 0);
    CHECK(e.line() == 1);
  }
}
