#include "cvol/json_line.h"

#include "gtest/gtest.h"

namespace cvol {
namespace {

TEST(JsonLineTest, QuotesPlainText) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("vol-1_a.b"), "\"vol-1_a.b\"");
}

TEST(JsonLineTest, EscapesSpecialCharacters) {
  EXPECT_EQ(JsonQuote("a\"b"), R"("a\"b")");
  EXPECT_EQ(JsonQuote("a\\b"), R"("a\\b")");
  EXPECT_EQ(JsonQuote("a/b"), R"("a/b")");
  EXPECT_EQ(JsonQuote("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(JsonQuote(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonLineTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonQuote("\xff"), R"("\ufffd")");
  EXPECT_EQ(JsonQuote("a\xc3"), R"("a\ufffd")");           // truncated sequence
  EXPECT_EQ(JsonQuote("\xc0\xaf"), R"("\ufffd\ufffd")");   // overlong '/'
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(JsonQuote("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(JsonQuote("\x80x"), R"("\ufffdx")");
}

TEST(JsonLineTest, WritesObjectsInOrder) {
  EXPECT_EQ(JsonObjectWriter().Finish(), "{}");
  EXPECT_EQ(JsonObjectWriter()
                .Add("b", uint64_t{18446744073709551615u})
                .Add("a", "x\"y")
                .Add("k\n", uint64_t{0})
                .Finish(),
            R"({"b":18446744073709551615,"a":"x\"y","k\n":0})");
}

}  // namespace
}  // namespace cvol
