// A test fixture for files holding secrets: a fresh temporary directory per
// test (removed after it) and Write(name, content, mode).
#ifndef CVOL_TESTS_UNIT_SECRET_FILE_FIXTURE_H_
#define CVOL_TESTS_UNIT_SECRET_FILE_FIXTURE_H_

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace cvol::testing {

class SecretFileFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (std::filesystem::temp_directory_path() / "cvol-secret-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }

  std::filesystem::path dir_;
};

}  // namespace cvol::testing

#endif  // CVOL_TESTS_UNIT_SECRET_FILE_FIXTURE_H_
