// LoadClusterSecret: permissions, file type and length checks, in a
// private temporary directory.
#include "cvol/peer/secret.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "secret_file_fixture.h"

namespace cvol::peer {
namespace {

using ::testing::HasSubstr;

using PeerSecretTest = cvol::testing::SecretFileFixture;

TEST_F(PeerSecretTest, LoadsAndStripsOneNewline) {
  absl::StatusOr<std::string> s = LoadClusterSecret(Write("s", "0123456789abcdef\n", 0600));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "0123456789abcdef");
  s = LoadClusterSecret(Write("t", "0123456789abcdef\n\n", 0400));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "0123456789abcdef\n");
}

TEST_F(PeerSecretTest, GroupOrOtherAccessRefusedWithTheFix) {
  for (mode_t mode : {0640, 0604, 0620, 0602, 0644, 0660, 0610}) {
    const std::string path = Write("s", "0123456789abcdef", mode);
    absl::StatusOr<std::string> s = LoadClusterSecret(path);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("chmod 600 " + path));
    char shown[8];
    snprintf(shown, sizeof(shown), "%04o", mode);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(shown));
  }
}

TEST_F(PeerSecretTest, TooShortRefused) {
  absl::StatusOr<std::string> s = LoadClusterSecret(Write("s", "0123456789abcde\n", 0600));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("15 bytes"));
  EXPECT_EQ(LoadClusterSecret(Write("e", "", 0600)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PeerSecretTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadClusterSecret((dir_ / "absent").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PeerSecretTest, NotARegularFileRefused) {
  const std::filesystem::path sub = dir_ / "sub";
  std::filesystem::create_directory(sub);
  chmod(sub.c_str(), 0700);
  EXPECT_EQ(LoadClusterSecret(sub.string()).status().code(), absl::StatusCode::kFailedPrecondition);
  // A FIFO must be refused, not block the caller.
  const std::filesystem::path fifo = dir_ / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<std::string> s = LoadClusterSecret(fifo.string());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("regular file"));
}

}  // namespace
}  // namespace cvol::peer
