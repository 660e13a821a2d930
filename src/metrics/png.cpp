#include "metrics/png.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "common/error.h"

namespace genzoo {
namespace {

void append_big_endian_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

// length, type, data, CRC-32 of type and data (PNG spec section 5.3).
void append_chunk(std::string& out, const char* type, const std::string& data) {
  append_big_endian_u32(out, static_cast<uint32_t>(data.size()));
  const size_t type_start = out.size();
  out.append(type, 4);
  out.append(data);
  const auto* checked = reinterpret_cast<const Bytef*>(out.data() + type_start);
  append_big_endian_u32(out, static_cast<uint32_t>(crc32(0L, checked, static_cast<uInt>(4 + data.size()))));
}

uint8_t gray_byte(float value) {
  if (!(value > 0.0f)) return 0;  // also NaN
  if (value >= 1.0f) return 255;
  return static_cast<uint8_t>(std::lround(value * 255.0f));
}

}  // namespace

void write_png_gray(const std::string& path, const std::vector<float>& pixels, int64_t height, int64_t width) {
  constexpr int64_t kMaxSide = 0x7fffffff;  // PNG stores dimensions as 31-bit integers
  if (height < 1 || width < 1 || height > kMaxSide || width > kMaxSide ||
      static_cast<int64_t>(pixels.size()) != height * width) {
    throw StorageError("cannot write PNG " + path + ": " + std::to_string(pixels.size()) + " pixels for a " +
                       std::to_string(height) + "x" + std::to_string(width) + " image");
  }

  // Every scanline starts with its filter type; 0 (none) is simplest and small images gain little.
  std::string scanlines;
  scanlines.reserve(static_cast<size_t>(height * (width + 1)));
  for (int64_t y = 0; y < height; ++y) {
    scanlines.push_back('\0');
    for (int64_t x = 0; x < width; ++x) scanlines.push_back(static_cast<char>(gray_byte(pixels[y * width + x])));
  }
  uLongf compressed_size = compressBound(static_cast<uLong>(scanlines.size()));
  std::string compressed(compressed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(compressed.data()), &compressed_size,
                reinterpret_cast<const Bytef*>(scanlines.data()), static_cast<uLong>(scanlines.size()),
                Z_BEST_COMPRESSION) != Z_OK) {
    throw StorageError("cannot write PNG " + path + ": zlib compression failed");
  }
  compressed.resize(compressed_size);

  std::string header;
  append_big_endian_u32(header, static_cast<uint32_t>(width));
  append_big_endian_u32(header, static_cast<uint32_t>(height));
  header += std::string("\x08\x00\x00\x00\x00", 5);  // bit depth 8, grayscale, deflate, filter 0, no interlace

  std::string file("\x89PNG\r\n\x1a\n", 8);
  append_chunk(file, "IHDR", header);
  append_chunk(file, "IDAT", compressed);
  append_chunk(file, "IEND", "");

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw StorageError("cannot write PNG " + path + ": " + std::strerror(errno));
  out.write(file.data(), static_cast<std::streamsize>(file.size()));
  out.close();
  if (!out) throw StorageError("cannot write PNG " + path + ": write failed (" + std::strerror(errno) + ")");
}

GridShape tile_grid_shape(int64_t count, int64_t side, int64_t columns, int64_t padding) {
  if (count < 1 || side < 1 || columns < 1 || padding < 0) {
    throw Error("tile_images: need count, side and columns >= 1 and padding >= 0 (got count " +
                std::to_string(count) + ", side " + std::to_string(side) + ", columns " + std::to_string(columns) +
                ", padding " + std::to_string(padding) + ")");
  }
  GridShape shape;
  shape.columns = columns;
  shape.rows = (count + columns - 1) / columns;
  shape.height = shape.rows * side + (shape.rows + 1) * padding;
  shape.width = shape.columns * side + (shape.columns + 1) * padding;
  return shape;
}

std::vector<float> tile_images(const float* images, int64_t count, int64_t side, int64_t columns, int64_t padding,
                               float padding_value) {
  const GridShape shape = tile_grid_shape(count, side, columns, padding);
  std::vector<float> grid(static_cast<size_t>(shape.height * shape.width), padding_value);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t top = padding + (i / columns) * (side + padding);
    const int64_t left = padding + (i % columns) * (side + padding);
    const float* image = images + i * side * side;
    for (int64_t y = 0; y < side; ++y) {
      std::copy(image + y * side, image + (y + 1) * side, grid.begin() + (top + y) * shape.width + left);
    }
  }
  return grid;
}

}  // namespace genzoo
