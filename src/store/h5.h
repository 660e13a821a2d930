// A thin RAII layer over the HDF5 C API, just wide enough for genzoo's files: groups, numeric and
// string datasets of any rank, and attributes. Every failing HDF5 call becomes a StorageError that names
// the file and the object path, with HDF5's own innermost message appended; HDF5's automatic printing
// of its error stack is switched off so that nothing else reaches stderr.
#pragma once

#include <hdf5.h>

#include <functional>
#include <string>
#include <vector>

#include "common/error.h"

namespace genzoo::h5 {

using Dims = std::vector<hsize_t>;
// In an expected shape: any extent is fine (e.g. K, before the first [N, K] matrix was read).
constexpr hsize_t kAnyExtent = ~hsize_t{0};
std::string dims_text(const Dims& dims);  // "[4, 3]", kAnyExtent as "*"

// On-disk layout of a dataset. kCompressed chunks along the leading axes (about 1 MiB per chunk, so a
// reader slicing rows touches few chunks) and applies shuffle + deflate; empty datasets stay contiguous
// because HDF5 chunks cannot be empty.
enum class Storage { kContiguous, kCompressed };

// Owns one HDF5 identifier and releases it with the matching H5*close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { close(); }

  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Releases the identifier now; returns the close function's result (negative on failure).
  herr_t close();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// A group or a dataset: something with a path in a file and attributes. Remembers the file's name and
// its own path so that every error can name both.
class Object {
 public:
  const std::string& file_name() const { return file_name_; }
  const std::string& path() const { return path_; }
  hid_t id() const { return handle_.id(); }
  std::string child_path(const std::string& name) const;

  // "<file>: <path>: <what>" for a problem found by the caller (a shape or value that is wrong).
  StorageError error(const std::string& what) const;
  // The same, with the message HDF5 left on its error stack, for a failed HDF5 call.
  StorageError hdf5_error(const std::string& what) const;

  bool has_attribute(const std::string& name) const;
  // Writers replace an attribute of the same name. T: int32_t, int64_t, uint64_t, float, double or
  // std::string (stored as a variable-length UTF-8 string).
  template <typename T>
  void write_attribute(const std::string& name, const T& value) const;
  template <typename T>
  void write_array_attribute(const std::string& name, const std::vector<T>& values) const;
  template <typename T>
  T read_attribute(const std::string& name) const;
  template <typename T>
  std::vector<T> read_array_attribute(const std::string& name) const;

 protected:
  Object(Handle handle, std::string file_name, std::string path)
      : handle_(std::move(handle)), file_name_(std::move(file_name)), path_(std::move(path)) {}

 private:
  void write_attribute_values(const std::string& name, const void* buffer, hid_t memory_type,
                              hid_t stored_type, hid_t space) const;

  Handle handle_;
  std::string file_name_;
  std::string path_;
};

class Dataset : public Object {
 public:
  Dims dims() const;
  // The shape, after checking it against `expected` (same rank; kAnyExtent matches any extent).
  Dims expect_dims(const Dims& expected) const;
  // The whole dataset in C order. Numeric T must match the stored type's class (integer or floating
  // point; HDF5 converts widths); std::string reads variable- and fixed-length strings.
  template <typename T>
  std::vector<T> read() const;

 private:
  friend class Group;
  using Object::Object;
};

class Group : public Object {
 public:
  bool has(const std::string& name) const;  // a link of this name exists here
  std::vector<std::string> names() const;   // the links here, in name order
  Group create_group(const std::string& name) const;
  Group open_group(const std::string& name) const;
  Dataset open_dataset(const std::string& name) const;
  void remove(const std::string& name) const;
  // values in C order; dims defaults to 1-D [values.size()] and must multiply to values.size().
  template <typename T>
  Dataset write(const std::string& name, const std::vector<T>& values, Dims dims = {},
                Storage storage = Storage::kContiguous) const;

 private:
  friend class File;
  using Object::Object;
};

class File {
 public:
  enum class Mode { kCreate, kReadOnly, kReadWrite };  // kCreate truncates an existing file

  File(const std::string& name, Mode mode);
  const std::string& name() const { return name_; }
  Group root() const;
  // Flushes and closes, throwing on failure (the destructor closes too, but cannot report). Objects of
  // this file still open are closed with it, so none can keep the file open past a rename.
  void close();

 private:
  Handle handle_;
  std::string name_;
};

// Whether the file starts with an HDF5 signature. Throws StorageError when it cannot be read.
bool is_hdf5(const std::string& file_name);

// Opens an existing HDF5 file read-only; StorageError "<file>: no such file" / "not an HDF5 file".
File open_existing(const std::string& file_name);

// The check every genzoo reader makes: root's integer attribute schema_version equals `expected`.
// StorageError "<file>: no schema_version attribute (not a genzoo <kind> file)" or
// "<file>: <kind> schema_version <v>, this genzoo reads <expected>".
void require_schema_version(const Group& root, const std::string& file_name, const std::string& kind, int32_t expected);
// Opens an existing genzoo product file whose root says kind = `kind` (reduce, distill) and has schema
// version `expected`: StorageError "<file>: not a genzoo <kind> file (no root attribute kind = "<kind>")"
// or require_schema_version's otherwise.
File open_kind(const std::string& file_name, const std::string& kind, int32_t expected);

// Creates file_name through "<file_name>.tmp-<pid>": write(root) fills the new file, which is then
// closed, synced to disk and renamed into place. On any failure the temporary is removed and whatever
// was at file_name stays as it was; no reader ever sees a half-written file.
void write_file_atomically(const std::string& file_name, const std::function<void(const Group& root)>& write);

// Dataset `name` of group, after checking its shape against expected (see Dataset::expect_dims);
// the actual shape goes to *actual when given.
template <typename T>
std::vector<T> read_shaped(const Group& group, const std::string& name, const Dims& expected, Dims* actual = nullptr) {
  const Dataset dataset = group.open_dataset(name);
  const Dims dims = dataset.expect_dims(expected);
  if (actual) *actual = dims;
  return dataset.read<T>();
}

}  // namespace genzoo::h5
