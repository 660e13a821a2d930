// Pictures of generated samples (genzoo inspect --samples --png): 8-bit grayscale PNG writing and
// tiling many small images into one grid.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {

// Writes pixels [height, width] (row-major, 0 = black, 1 = white; clamped to [0, 1], NaN -> black) as
// an 8-bit grayscale, non-interlaced PNG. Throws genzoo::StorageError naming the file when the size
// does not match the pixel count, or the file cannot be written.
void write_png_gray(const std::string& path, const std::vector<float>& pixels, int64_t height, int64_t width);

// Size of the grid tile_images builds: ceil(count / columns) rows of `columns` tiles of side x side,
// with `padding` pixels between tiles and around the border.
struct GridShape {
  int64_t rows = 0;
  int64_t columns = 0;
  int64_t height = 0;  // rows * side + (rows + 1) * padding
  int64_t width = 0;   // columns * side + (columns + 1) * padding
};
GridShape tile_grid_shape(int64_t count, int64_t side, int64_t columns, int64_t padding);

// Tiles images [count, side * side] row by row (image i at row i / columns, column i % columns) into
// one image [height, width] of tile_grid_shape; padding and empty cells get padding_value (mid-gray
// by default, visible against both dark backgrounds and bright objects). Throws genzoo::Error when
// count, side or columns < 1 or padding < 0.
std::vector<float> tile_images(const float* images, int64_t count, int64_t side, int64_t columns, int64_t padding,
                               float padding_value = 0.5f);

}  // namespace genzoo
