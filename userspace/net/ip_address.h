#pragma once
// IP addresses as the maps hold them: 16 bytes in network order, an IPv4
// address in its IPv4-mapped form (see bpf/socklb_maps.h).

#include <endian.h>

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace socklb {

enum class Family : uint8_t { V4 = 4, V6 = 6 };

std::string_view family_name(Family family);  // "IPv4" / "IPv6", as Kubernetes spells them

class IpAddress {
 public:
  IpAddress() = default;

  // Accepts dotted IPv4 and IPv6 text; refuses IPv4-mapped IPv6 text, which
  // Kubernetes never uses and which would blur the two families.
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress from_words(const uint32_t words[4]);  // network-order words
  static IpAddress from_v4(uint32_t network_order);

  Family family() const;
  bool is_v4() const { return family() == Family::V4; }
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  void to_words(uint32_t out[4]) const;
  uint32_t v4() const;  // network order; only for IPv4
  std::string str() const;

  // The order of the bytes, as two big-endian words: the planner's maps
  // compare addresses millions of times, and a 16-byte memcmp call is most
  // of a comparison.
  std::strong_ordering operator<=>(const IpAddress& other) const {
    auto [hi, lo] = order_words();
    auto [other_hi, other_lo] = other.order_words();
    return hi != other_hi ? hi <=> other_hi : lo <=> other_lo;
  }
  bool operator==(const IpAddress& other) const { return order_words() == other.order_words(); }

 private:
  std::pair<uint64_t, uint64_t> order_words() const {
    uint64_t hi, lo;
    std::memcpy(&hi, bytes_.data(), 8);
    std::memcpy(&lo, bytes_.data() + 8, 8);
    return {be64toh(hi), be64toh(lo)};
  }

  std::array<uint8_t, 16> bytes_{};
};

class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
  Family family() const { return base_.family(); }
  std::string str() const;

 private:
  IpAddress base_;
  int prefix_bits_ = 0;  // counted in the 128-bit mapped form
};

}  // namespace socklb
