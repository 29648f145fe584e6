// ReadSecretFile: file type, owner and mode checks, in a private
// temporary directory.
#include "cvol/secret_file.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "secret_file_fixture.h"

namespace cvol {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using SecretFileTest = cvol::testing::SecretFileFixture;

TEST_F(SecretFileTest, ReadsAndStripsOneNewline) {
  absl::StatusOr<std::string> s = ReadSecretFile(Write("s", "pass word\n", 0600));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "pass word");
  s = ReadSecretFile(Write("t", "x\n\n", 0400));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "x\n");
  s = ReadSecretFile(Write("e", "", 0600));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "");
}

TEST_F(SecretFileTest, GroupOrOtherBitsRefusedWithTheFix) {
  for (mode_t mode : {0640, 0604, 0620, 0602, 0644, 0660, 0610, 0601}) {
    const std::string path = Write("s", "the-secret", mode);
    absl::StatusOr<std::string> s = ReadSecretFile(path);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("chmod 600 " + path));
    char shown[8];
    snprintf(shown, sizeof(shown), "%04o", mode);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(shown));
    EXPECT_THAT(std::string(s.status().message()), Not(HasSubstr("the-secret")));
  }
}

TEST_F(SecretFileTest, SymbolicLinkRefused) {
  const std::string target = Write("real", "the-secret", 0600);
  const std::string link = (dir_ / "link").string();
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  absl::StatusOr<std::string> s = ReadSecretFile(link);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("symbolic link"));
}

TEST_F(SecretFileTest, NotARegularFileRefused) {
  const std::filesystem::path sub = dir_ / "sub";
  std::filesystem::create_directory(sub);
  chmod(sub.c_str(), 0700);
  EXPECT_EQ(ReadSecretFile(sub.string()).status().code(), absl::StatusCode::kFailedPrecondition);
  // A FIFO must be refused, not block the caller.
  const std::filesystem::path fifo = dir_ / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<std::string> s = ReadSecretFile(fifo.string());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("regular file"));
}

TEST_F(SecretFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadSecretFile((dir_ / "absent").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SecretFileTest, TooLargeRefused) {
  const std::string path = Write("big", std::string(kMaxSecretFileBytes + 1, 'x'), 0600);
  EXPECT_EQ(ReadSecretFile(path).status().code(), absl::StatusCode::kInvalidArgument);
}

// Only root can give a file away; unprivileged runs check the rest.
TEST_F(SecretFileTest, OwnedBySomeoneElseRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown a file to another user";
  const std::string path = Write("s", "the-secret", 0600);
  ASSERT_EQ(chown(path.c_str(), 4321, 4321), 0);
  absl::StatusOr<std::string> s = ReadSecretFile(path);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("owned by uid 4321"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("chown root: " + path));
}

}  // namespace
}  // namespace cvol
