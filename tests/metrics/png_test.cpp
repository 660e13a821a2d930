// Tests for src/metrics/png.cpp: written PNGs are decoded here independently (signature, chunk CRCs,
// IHDR fields, inflated scanlines) and checked by file(1); grid tiling is checked pixel by pixel.
#include "metrics/png.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "helpers.h"

namespace genzoo {
namespace {

using test::TempDir;

uint32_t read_big_endian_u32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

struct DecodedGray {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> pixels;
};

// A minimal decoder for what write_png_gray promises (8-bit grayscale, no interlace, filter 0 lines);
// fails the test on anything else.
DecodedGray decode_png_gray(const std::string& bytes) {
  DecodedGray image;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << "PNG signature";
  std::string idat;
  std::vector<std::string> chunk_types;
  size_t at = 8;
  while (at + 12 <= bytes.size()) {
    const uint32_t length = read_big_endian_u32(bytes, at);
    const std::string type = bytes.substr(at + 4, 4);
    const std::string data = bytes.substr(at + 8, length);
    const uint32_t stored_crc = read_big_endian_u32(bytes, at + 8 + length);
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + at + 4), static_cast<uInt>(4 + length)));
    EXPECT_EQ(stored_crc, crc) << "CRC of chunk " << type;
    chunk_types.push_back(type);
    if (type == "IHDR") {
      EXPECT_EQ(length, 13u);
      image.width = read_big_endian_u32(data, 0);
      image.height = read_big_endian_u32(data, 4);
      EXPECT_EQ(data.substr(8), std::string("\x08\x00\x00\x00\x00", 5)) << "8-bit gray, deflate, no interlace";
    } else if (type == "IDAT") {
      idat += data;
    }
    at += 12 + length;
  }
  EXPECT_EQ(at, bytes.size()) << "bytes after the last chunk";
  EXPECT_EQ(chunk_types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));

  std::string scanlines(static_cast<size_t>(image.height) * (image.width + 1), '\0');
  uLongf inflated_size = scanlines.size();
  EXPECT_EQ(uncompress(reinterpret_cast<Bytef*>(scanlines.data()), &inflated_size,
                       reinterpret_cast<const Bytef*>(idat.data()), idat.size()),
            Z_OK);
  EXPECT_EQ(inflated_size, scanlines.size());
  for (uint32_t y = 0; y < image.height; ++y) {
    const size_t line = static_cast<size_t>(y) * (image.width + 1);
    EXPECT_EQ(scanlines[line], '\0') << "filter type of row " << y;
    for (uint32_t x = 0; x < image.width; ++x) image.pixels.push_back(static_cast<uint8_t>(scanlines[line + 1 + x]));
  }
  return image;
}

TEST(Png, GrayImageRoundTripsThroughAnIndependentDecoder) {
  TempDir dir;
  const std::string path = dir.file("small.png");
  // 3 rows x 5 columns, including values outside [0, 1] and NaN.
  const std::vector<float> pixels = {0.0f, 1.0f, 0.5f,  0.25f, 1.0f / 255.0f,  //
                                     -1.f, 2.0f, 0.75f, 0.1f,  std::nanf(""),  //
                                     0.2f, 0.4f, 0.6f,  0.8f,  0.999f};
  write_png_gray(path, pixels, 3, 5);

  const DecodedGray image = decode_png_gray(test::read_text(path));
  EXPECT_EQ(image.width, 5u);
  EXPECT_EQ(image.height, 3u);
  const std::vector<uint8_t> expected = {0,  255, 128, 64,  1,  //
                                         0,  255, 191, 26,  0,  //
                                         51, 102, 153, 204, 255};
  EXPECT_EQ(image.pixels, expected);

  const test::CommandResult file = test::run_command("file -b " + test::shell_quote(path));
  if (file.exit_code == 0) {
    EXPECT_NE(file.output.find("PNG image data, 5 x 3, 8-bit grayscale, non-interlaced"), std::string::npos)
        << file.output;
  }
}

TEST(Png, TiledGridRoundTrips) {
  TempDir dir;
  const int64_t count = 10, side = 28;
  std::vector<float> images(count * side * side);
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>((i * 7919) % 256) / 255.0f;
  const GridShape shape = tile_grid_shape(count, side, 4, 2);
  const std::vector<float> grid = tile_images(images.data(), count, side, 4, 2);
  const std::string path = dir.file("grid.png");
  write_png_gray(path, grid, shape.height, shape.width);

  const DecodedGray image = decode_png_gray(test::read_text(path));
  ASSERT_EQ(image.height, static_cast<uint32_t>(shape.height));
  ASSERT_EQ(image.width, static_cast<uint32_t>(shape.width));
  for (size_t i = 0; i < grid.size(); ++i) {
    ASSERT_EQ(image.pixels[i], static_cast<uint8_t>(std::lround(grid[i] * 255.0f))) << "pixel " << i;
  }
}

TEST(Png, FailuresNameTheFile) {
  TempDir dir;
  const std::string missing_dir = dir.file("no-such-dir/out.png");
  try {
    write_png_gray(missing_dir, std::vector<float>(4, 0.5f), 2, 2);
    FAIL() << "no exception";
  } catch (const StorageError& error) {
    EXPECT_NE(std::string(error.what()).find(missing_dir), std::string::npos) << error.what();
  }
  const std::string wrong_size = dir.file("wrong.png");
  try {
    write_png_gray(wrong_size, std::vector<float>(5, 0.5f), 2, 2);
    FAIL() << "no exception";
  } catch (const StorageError& error) {
    EXPECT_NE(std::string(error.what()).find(wrong_size), std::string::npos) << error.what();
  }
}

TEST(Png, TileImagesPlacesImagesRowByRowWithPadding) {
  // Three 2x2 images (values 1x, 2x, 3x) in 2 columns with 1 pixel of padding: a 7x7 grid whose
  // fourth cell is empty.
  const std::vector<float> images = {0.11f, 0.12f, 0.13f, 0.14f,  //
                                     0.21f, 0.22f, 0.23f, 0.24f,  //
                                     0.31f, 0.32f, 0.33f, 0.34f};
  const GridShape shape = tile_grid_shape(3, 2, 2, 1);
  EXPECT_EQ(shape.rows, 2);
  EXPECT_EQ(shape.columns, 2);
  EXPECT_EQ(shape.height, 7);
  EXPECT_EQ(shape.width, 7);
  const float p = 0.5f;
  const std::vector<float> expected = {p, p,     p,     p, p,     p,     p,  //
                                       p, 0.11f, 0.12f, p, 0.21f, 0.22f, p,  //
                                       p, 0.13f, 0.14f, p, 0.23f, 0.24f, p,  //
                                       p, p,     p,     p, p,     p,     p,  //
                                       p, 0.31f, 0.32f, p, p,     p,     p,  //
                                       p, 0.33f, 0.34f, p, p,     p,     p,  //
                                       p, p,     p,     p, p,     p,     p};
  EXPECT_EQ(tile_images(images.data(), 3, 2, 2, 1), expected);

  const std::vector<float> no_padding = tile_images(images.data(), 2, 2, 2, 0, 0.0f);
  EXPECT_EQ(no_padding, (std::vector<float>{0.11f, 0.12f, 0.21f, 0.22f, 0.13f, 0.14f, 0.23f, 0.24f}));
}

TEST(Png, TileImagesRejectsBadShapes) {
  const std::vector<float> image(4, 0.0f);
  EXPECT_THROW(tile_images(image.data(), 0, 2, 2, 1), Error);
  EXPECT_THROW(tile_images(image.data(), 1, 2, 0, 1), Error);
  EXPECT_THROW(tile_images(image.data(), 1, 2, 2, -1), Error);
}

}  // namespace
}  // namespace genzoo
