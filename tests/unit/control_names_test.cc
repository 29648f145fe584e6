#include "cvol/control/names.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol::control {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

TEST(ControlNames, ValidNames) {
  for (const char* name : {"a", "Z", "0", "_", "pool1", "a.b", "a+b", "a-b", "a_", "9-._+",
                           "x..", "a--"}) {
    EXPECT_TRUE(ValidateName("pool", name).ok()) << name << ": " << ValidateName("pool", name);
  }
  EXPECT_TRUE(ValidateName("pool", std::string(63, 'a')).ok());
}

TEST(ControlNames, InvalidNames) {
  EXPECT_THAT(ErrorOf(ValidateName("pool", "")), HasSubstr("pool name is empty"));
  EXPECT_THAT(ErrorOf(ValidateName("pv", std::string(64, 'a'))),
              HasSubstr("is 64 characters; use 1 to 63 characters"));
  for (const char* name : {".", "..", "-a", "+a", ".hidden"}) {
    absl::Status s = ValidateName("volume", name);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(ErrorOf(s), HasSubstr("must start with a letter, a digit or '_'")) << name;
  }
  for (const char* name : {"a/b", "a b", "a:b", "a\tb", "caf\xc3\xa9", "a*", "a\\b", "a@b"}) {
    absl::Status s = ValidateName("volume", name);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(ErrorOf(s), HasSubstr("is not allowed")) << name;
  }
  // Unprintable bytes are shown escaped.
  EXPECT_THAT(ErrorOf(ValidateName("pool", "a\nb")), HasSubstr("'a\\nb'"));
  EXPECT_THAT(ErrorOf(ValidateName("pool", std::string("a\0b", 3))), HasSubstr("'a\\x00"));
}

TEST(ControlNames, ParseVolumeName) {
  absl::StatusOr<VolumeName> name = ParseVolumeName("pool1/vol-1");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->pool, "pool1");
  EXPECT_EQ(name->volume, "vol-1");
  EXPECT_EQ(name->full(), "pool1/vol-1");
  for (const char* bad : {"vol", "/vol", "pool/", "a/b/c", "", "/", "pool//vol"}) {
    EXPECT_EQ(ParseVolumeName(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ErrorOf(ParseVolumeName("vol")), HasSubstr("must be named <pool>/<volume>"));
  EXPECT_THAT(ErrorOf(ParseVolumeName("p/.v")), HasSubstr("invalid volume name '.v'"));
  EXPECT_THAT(ErrorOf(ParseVolumeName(".p/v")), HasSubstr("invalid pool name '.p'"));
}

TEST(ControlNames, VolumeNameMustFitDmName) {
  // 63 + 1 + 63 = 127: fits exactly.
  std::string longest = std::string(63, 'a') + "/" + std::string(63, 'b');
  EXPECT_TRUE(ParseVolumeName(longest).ok());
  // One dash doubles to 128 bytes.
  std::string dashed = std::string(62, 'a') + "-/" + std::string(63, 'b');
  EXPECT_THAT(ErrorOf(ParseVolumeName(dashed)), HasSubstr("has 128 bytes, the limit is 127"));
}

TEST(ControlNames, DmNameDoublesDashes) {
  EXPECT_EQ(DmName("pool1", "vol1"), "pool1-vol1");
  EXPECT_EQ(DmName("a-b", "c"), "a--b-c");
  EXPECT_EQ(DmName("a", "b-c"), "a-b--c");
  EXPECT_NE(DmName("a-b", "c"), DmName("a", "b-c"));
  EXPECT_EQ(DmName("a--", "-"), "a-----" "--");
  EXPECT_EQ(DmUuid("0123-abcd"), "CVOL-0123-abcd");
}

TEST(ControlNames, ParseSizeGood) {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  for (const Case& c : {Case{"0", 0}, Case{"4096", 4096}, Case{"4096B", 4096}, Case{"1b", 1},
                        Case{"1K", 1024}, Case{"1k", 1024}, Case{"1KiB", 1024},
                        Case{"512M", 512ull << 20}, Case{"10G", 10ull << 30},
                        Case{"10g", 10ull << 30}, Case{"2GiB", 2ull << 30}, Case{"1T", 1ull << 40},
                        Case{"1P", 1ull << 50}, Case{"1E", 1ull << 60}, Case{"15E", 15ull << 60},
                        Case{"100s", 51200}, Case{"1.5G", 3ull << 29}, Case{"0.5K", 512},
                        Case{"1.0", 1}, Case{"1.25K", 1280}, Case{"0.5s", 256},
                        Case{"007", 7}, Case{"18446744073709551615", UINT64_MAX}}) {
    absl::StatusOr<uint64_t> bytes = ParseSize(c.text);
    ASSERT_TRUE(bytes.ok()) << c.text << ": " << bytes.status();
    EXPECT_EQ(*bytes, c.bytes) << c.text;
  }
}

TEST(ControlNames, ParseSizeBad) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const Case& c : {Case{"", "it is empty"}, Case{"G", "must start with a digit"},
                        Case{"-1G", "must start with a digit"}, Case{"+1G", "must start with a digit"},
                        Case{" 1G", "must start with a digit"}, Case{".5G", "must start with a digit"},
                        Case{"1G ", "unknown unit"}, Case{"1 G", "unknown unit"},
                        Case{"1X", "unknown unit"}, Case{"1GB", "unknown unit"},
                        Case{"1S", "unknown unit"}, Case{"1Gi", "unknown unit"},
                        Case{"1GiBs", "unknown unit"}, Case{"1.", "followed by digits"},
                        Case{"1.G", "followed by digits"}, Case{"1.5", "not a whole number"},
                        Case{"0.3K", "not a whole number"}, Case{"1.1s", "not a whole number"},
                        Case{"16E", "too large"}, Case{"18446744073709551616", "too large"},
                        Case{"99999999999999999999999", "too large"},
                        Case{"17179869184G", "too large"},
                        Case{"15.9999999999999999999E", "too many decimals"},
                        Case{"0x10", "unknown unit"}, Case{"1e3", "unknown unit"},
                        Case{"1,5G", "unknown unit"}}) {
    absl::StatusOr<uint64_t> bytes = ParseSize(c.text);
    ASSERT_FALSE(bytes.ok()) << c.text << " = " << *bytes;
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(ErrorOf(bytes), HasSubstr(c.why)) << c.text;
    EXPECT_THAT(ErrorOf(bytes), HasSubstr("use a number of bytes or a unit")) << c.text;
  }
}

TEST(ControlNames, ParseSizeFractionNearTheTop) {
  // 15.5 EiB fits. 0.9999 EiB is 9999 * 2^60 / 10^4 bytes, and 5^4 does
  // not divide that: not whole, refused rather than rounded.
  EXPECT_EQ(ParseSize("15.5E").value(), (31ull << 59));
  EXPECT_FALSE(ParseSize("15.9999E").ok());
}

TEST(ControlNames, FormatSize) {
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(512), "512 B");
  EXPECT_EQ(FormatSize(1023), "1023 B");
  EXPECT_EQ(FormatSize(1024), "1.00 KiB");
  EXPECT_EQ(FormatSize(1536), "1.50 KiB");
  EXPECT_EQ(FormatSize(4ull << 20), "4.00 MiB");
  EXPECT_EQ(FormatSize(1ull << 30), "1.00 GiB");
  EXPECT_EQ(FormatSize(3ull << 29), "1.50 GiB");
  EXPECT_EQ(FormatSize((1ull << 30) - 1), "1.00 GiB");  // rounds up into the next unit
  EXPECT_EQ(FormatSize((1ull << 20) - 1), "1.00 MiB");
  EXPECT_EQ(FormatSize(1ull << 40), "1.00 TiB");
  EXPECT_EQ(FormatSize(1ull << 60), "1.00 EiB");
  EXPECT_EQ(FormatSize(UINT64_MAX), "16.00 EiB");
  EXPECT_EQ(FormatSize(10ull << 30), "10.00 GiB");
  EXPECT_EQ(FormatSize(1000ull << 30), "1000.00 GiB");
  EXPECT_EQ(FormatSize(1023ull << 30), "1023.00 GiB");
}

}  // namespace
}  // namespace cvol::control
