#include "cvol/decimal.h"

#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace cvol {
namespace {

using ::cvol::testing::ErrorOf;
using ::testing::HasSubstr;

TEST(ParseDecimalTest, AcceptsPlainDecimal) {
  EXPECT_EQ(*ParseDecimal("0", "n"), 0u);
  EXPECT_EQ(*ParseDecimal("42", "n"), 42u);
  EXPECT_EQ(*ParseDecimal("18446744073709551615", "n"), UINT64_MAX);
}

TEST(ParseDecimalTest, RejectsOtherSpellings) {
  EXPECT_THAT(ErrorOf(ParseDecimal("", "n")), HasSubstr("empty"));
  EXPECT_THAT(ErrorOf(ParseDecimal("-1", "n")), HasSubstr("negative"));
  EXPECT_THAT(ErrorOf(ParseDecimal("+1", "n")), HasSubstr("sign"));
  EXPECT_THAT(ErrorOf(ParseDecimal("0x10", "n")), HasSubstr("hex"));
  EXPECT_THAT(ErrorOf(ParseDecimal("0X10", "n")), HasSubstr("hex"));
  EXPECT_THAT(ErrorOf(ParseDecimal("010", "n")), HasSubstr("leading zeros"));
  EXPECT_THAT(ErrorOf(ParseDecimal("12k", "n")), HasSubstr("not a decimal"));
  EXPECT_THAT(ErrorOf(ParseDecimal(" 1", "n")), HasSubstr("not a decimal"));
  EXPECT_THAT(ErrorOf(ParseDecimal("1.0", "n")), HasSubstr("not a decimal"));
}

TEST(ParseDecimalTest, ChecksOverflowAndMaximum) {
  EXPECT_THAT(ErrorOf(ParseDecimal("18446744073709551616", "n")), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(ParseDecimal("99999999999999999999999", "n")),
              HasSubstr("out of range"));
  EXPECT_EQ(*ParseDecimal("4096", "n", 4096), 4096u);
  EXPECT_THAT(ErrorOf(ParseDecimal("4097", "n", 4096)), HasSubstr("maximum 4096"));
  EXPECT_THAT(ErrorOf(ParseDecimal("5", "n", 0)), HasSubstr("out of range"));
}

TEST(ParseDecimalTest, ErrorNamesValueAndToken) {
  EXPECT_EQ(ErrorOf(ParseDecimal("0x80", "extent_sectors")),
            "extent_sectors \"0x80\": hex is not accepted, use decimal");
}

}  // namespace
}  // namespace cvol
