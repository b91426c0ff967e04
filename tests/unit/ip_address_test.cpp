#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <string>

#include "net/ip_address.h"

using socklb::Cidr;
using socklb::Family;
using socklb::IpAddress;

namespace {

IpAddress ip(const char* text) {
  auto parsed = IpAddress::parse(text);
  REQUIRE_MESSAGE(parsed, std::string(text));
  return *parsed;
}

}  // namespace

TEST_CASE("IpAddress parses and prints both families in canonical form") {
  struct Case {
    const char* text;
    const char* printed;
    Family family;
  };
  const Case cases[] = {
      {"10.96.0.1", "10.96.0.1", Family::V4},
      {"0.0.0.0", "0.0.0.0", Family::V4},
      {"255.255.255.255", "255.255.255.255", Family::V4},
      {"fd00:10:96::1", "fd00:10:96::1", Family::V6},
      {"FD00:0010:0096:0000:0000:0000:0000:0001", "fd00:10:96::1", Family::V6},
      {"::1", "::1", Family::V6},
      {"::", "::", Family::V6},
      {"2001:db8::ffff:1.2.3.4", "2001:db8::ffff:102:304", Family::V6},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    auto parsed = IpAddress::parse(c.text);
    REQUIRE(parsed);
    CHECK(parsed->str() == c.printed);
    CHECK(parsed->family() == c.family);
    CHECK(parsed->is_v4() == (c.family == Family::V4));
  }
}

TEST_CASE("IpAddress stores IPv4 in the mapped form the maps use, in network order") {
  IpAddress a = ip("10.96.0.1");
  const auto& b = a.bytes();
  for (int i = 0; i < 10; ++i) CHECK(b[i] == 0);
  CHECK(b[10] == 0xff);
  CHECK(b[11] == 0xff);
  CHECK(b[12] == 10);
  CHECK(b[13] == 96);
  CHECK(b[14] == 0);
  CHECK(b[15] == 1);
  CHECK(a.v4() == htonl(0x0a600001));
  CHECK(IpAddress::from_v4(htonl(0x0a600001)) == a);

  uint32_t words[4];
  ip("fd00::2").to_words(words);
  CHECK(IpAddress::from_words(words) == ip("fd00::2"));
  a.to_words(words);
  CHECK(IpAddress::from_words(words).is_v4());
  CHECK(IpAddress::from_words(words).str() == "10.96.0.1");
}

TEST_CASE("IpAddress refuses garbage and IPv4-mapped IPv6 text") {
  const char* bad[] = {
      "", "10.96.0", "10.96.0.256", "10.96.0.1/32", " 10.96.0.1", "10.96.0.1 ", "host.example",
      "fd00::1::2", "fd00::g", "::ffff:10.96.0.1", "::ffff:a60:1", "None", "1.2.3.4.5",
  };
  for (const char* text : bad) {
    CAPTURE(std::string(text));
    CHECK_FALSE(IpAddress::parse(text));
  }
}

TEST_CASE("IpAddress orders v4 and v6 without mixing them up") {
  CHECK(ip("10.0.0.1") < ip("10.0.0.2"));
  CHECK(ip("10.0.0.2") < ip("10.0.1.1"));
  CHECK(ip("10.0.0.1") != ip("::a00:1"));  // IPv4-compatible text is IPv6, not 10.0.0.1
  CHECK(socklb::family_name(Family::V4) == "IPv4");
  CHECK(socklb::family_name(Family::V6) == "IPv6");
}

TEST_CASE("Cidr contains addresses at its edges and nothing past them") {
  struct Case {
    const char* cidr;
    const char* address;
    bool inside;
  };
  const Case cases[] = {
      {"10.96.0.0/12", "10.96.0.0", true},
      {"10.96.0.0/12", "10.111.255.255", true},
      {"10.96.0.0/12", "10.112.0.0", false},
      {"10.96.0.0/12", "10.95.255.255", false},
      {"10.96.0.1/32", "10.96.0.1", true},
      {"10.96.0.1/32", "10.96.0.2", false},
      {"10.96.5.7/12", "10.100.0.1", true},  // host bits in the base are ignored
      {"0.0.0.0/0", "255.255.255.255", true},
      {"0.0.0.0/0", "0.0.0.0", true},
      {"0.0.0.0/0", "::1", false},  // /0 of one family is not the other family
      {"fd00:10:96::/108", "fd00:10:96::1", true},
      {"fd00:10:96::/108", "fd00:10:96::f:ffff", true},
      {"fd00:10:96::/108", "fd00:10:96::10:0", false},
      {"fd00:10:96::/108", "10.96.0.1", false},
      {"::/0", "2001:db8::1", true},
      {"::/0", "10.96.0.1", false},
      {"fd00::1/128", "fd00::1", true},
      {"fd00::1/128", "fd00::2", false},
      {"fd00::/7", "fdff::1", true},
      {"fd00::/7", "fc00::1", true},  // the base's host bit 8 is ignored
      {"fd00::/8", "fc00::1", false},
      {"fc00::/7", "fdff:ffff::1", true},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.cidr));
    CAPTURE(std::string(c.address));
    auto cidr = Cidr::parse(c.cidr);
    REQUIRE(cidr);
    CHECK(cidr->contains(ip(c.address)) == c.inside);
  }
}

TEST_CASE("Cidr parses prefixes in the range of its family only") {
  const char* bad[] = {
      "10.96.0.0",     "10.96.0.0/",   "10.96.0.0/33", "10.96.0.0/-1", "10.96.0.0/12x", "10.96.0.0/ 12",
      "fd00::/129",    "fd00::/",      "/12",          "garbage/12",   "::ffff:10.0.0.0/104",
      "10.96.0.0/1.2", "10.96.0.0/+8",
  };
  for (const char* text : bad) {
    CAPTURE(std::string(text));
    CHECK_FALSE(Cidr::parse(text));
  }
  CHECK(Cidr::parse("10.96.0.0/12")->str() == "10.96.0.0/12");
  CHECK(Cidr::parse("10.96.0.0/32")->str() == "10.96.0.0/32");
  CHECK(Cidr::parse("fd00:10:96::/108")->str() == "fd00:10:96::/108");
  CHECK(Cidr::parse("::/128")->str() == "::/128");
  CHECK(Cidr::parse("10.0.0.0/8")->family() == Family::V4);
  CHECK(Cidr::parse("fd00::/8")->family() == Family::V6);
}
