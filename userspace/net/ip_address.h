#pragma once
// IP addresses as the maps hold them: 16 bytes in network order, an IPv4
// address in its IPv4-mapped form (see bpf/socklb_maps.h).

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

  auto operator<=>(const IpAddress&) const = default;

 private:
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
