#include "store/h5.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <utility>

namespace genzoo::h5 {

namespace {

// HDF5 prints its error stack to stderr by default; genzoo reports errors itself. Switching that off is
// per thread in thread-safe builds of HDF5, so every entry point (opening a file) repeats it.
void silence_error_printing() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// The most specific message on HDF5's error stack (e.g. "truncated file: eof = 96, ..."), then clears
// the stack so a later failure does not report a stale message.
std::string take_hdf5_message() {
  std::string message;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned depth, const H5E_error2_t* entry, void* out) -> herr_t {
        if (depth == 0 && entry->desc) *static_cast<std::string*>(out) = entry->desc;
        return 0;
      },
      &message);
  H5Eclear2(H5E_DEFAULT);
  return message;
}

StorageError storage_error(const std::string& file_name, const std::string& path, const std::string& what,
                           bool with_hdf5_message) {
  std::string text = file_name + ": " + (path.empty() ? "" : path + ": ") + what;
  if (with_hdf5_message) {
    const std::string detail = take_hdf5_message();
    if (!detail.empty()) text += " (HDF5: " + detail + ")";
  }
  return StorageError(text);
}

template <typename Result>
Result check(const Object& owner, Result result, const std::string& what) {
  if (result < 0) throw owner.hdf5_error(what);
  return result;
}

Handle own(const Object& owner, hid_t id, Handle::Closer closer, const std::string& what) {
  return Handle(check(owner, id, what), closer);
}

const char* class_name(H5T_class_t type_class) {
  switch (type_class) {
    case H5T_INTEGER:
      return "integers";
    case H5T_FLOAT:
      return "floating-point numbers";
    case H5T_STRING:
      return "strings";
    case H5T_COMPOUND:
      return "compound values";
    default:
      return "values of an unsupported type";
  }
}

// Variable-length UTF-8 strings: what h5py reads as str.
Handle variable_string_type(const Object& owner) {
  Handle type = own(owner, H5Tcopy(H5T_C_S1), H5Tclose, "cannot create a string type");
  check(owner, H5Tset_size(type.id(), H5T_VARIABLE), "cannot create a string type");
  check(owner, H5Tset_cset(type.id(), H5T_CSET_UTF8), "cannot create a string type");
  return type;
}

// Numeric types: the native type in memory and a fixed little-endian type in the file.
template <typename T>
struct NumericType;
template <>
struct NumericType<int32_t> {
  static hid_t memory() { return H5T_NATIVE_INT32; }
  static hid_t stored() { return H5T_STD_I32LE; }
  static constexpr H5T_class_t kClass = H5T_INTEGER;
};
template <>
struct NumericType<int64_t> {
  static hid_t memory() { return H5T_NATIVE_INT64; }
  static hid_t stored() { return H5T_STD_I64LE; }
  static constexpr H5T_class_t kClass = H5T_INTEGER;
};
template <>
struct NumericType<uint64_t> {
  static hid_t memory() { return H5T_NATIVE_UINT64; }
  static hid_t stored() { return H5T_STD_U64LE; }
  static constexpr H5T_class_t kClass = H5T_INTEGER;
};
template <>
struct NumericType<float> {
  static hid_t memory() { return H5T_NATIVE_FLOAT; }
  static hid_t stored() { return H5T_IEEE_F32LE; }
  static constexpr H5T_class_t kClass = H5T_FLOAT;
};
template <>
struct NumericType<double> {
  static hid_t memory() { return H5T_NATIVE_DOUBLE; }
  static hid_t stored() { return H5T_IEEE_F64LE; }
  static constexpr H5T_class_t kClass = H5T_FLOAT;
};

// What H5Dwrite / H5Awrite need for a vector<T>: a buffer and its memory and file types.
template <typename T>
struct Encoded {
  Encoded(const Object&, const std::vector<T>& values) : buffer(values.data()) {}
  hid_t memory_type() const { return NumericType<T>::memory(); }
  hid_t stored_type() const { return NumericType<T>::stored(); }
  const void* buffer;
};

template <>
struct Encoded<std::string> {
  Encoded(const Object& owner, const std::vector<std::string>& values) : type(variable_string_type(owner)) {
    for (const std::string& value : values) pointers.push_back(value.c_str());
    buffer = pointers.data();
  }
  hid_t memory_type() const { return type.id(); }
  hid_t stored_type() const { return type.id(); }
  Handle type;
  std::vector<const char*> pointers;
  const void* buffer = nullptr;
};

// Reads `count` values of a dataset or attribute through `read_into(memory_type, buffer)`. `subject`
// names an attribute in messages ("" for a dataset, which its owner's path already names).
using ReadInto = std::function<herr_t(hid_t memory_type, void* buffer)>;

void check_class(const Object& owner, const std::string& subject, hid_t stored_type, H5T_class_t expected) {
  const H5T_class_t stored_class = H5Tget_class(stored_type);
  check(owner, static_cast<int>(stored_class), subject + "cannot query the type");
  if (stored_class != expected) {
    throw owner.error(subject + "holds " + class_name(stored_class) + ", expected " + class_name(expected));
  }
}

template <typename T>
std::vector<T> decode(const Object& owner, const std::string& subject, hid_t stored_type, size_t count,
                      const ReadInto& read_into) {
  check_class(owner, subject, stored_type, NumericType<T>::kClass);
  std::vector<T> values(count);
  if (count > 0) check(owner, read_into(NumericType<T>::memory(), values.data()), subject + "cannot read");
  return values;
}

template <>
std::vector<std::string> decode<std::string>(const Object& owner, const std::string& subject,
                                             hid_t stored_type, size_t count, const ReadInto& read_into) {
  check_class(owner, subject, stored_type, H5T_STRING);
  std::vector<std::string> values;
  if (count == 0) return values;
  values.reserve(count);
  if (check(owner, H5Tis_variable_str(stored_type), subject + "cannot query the string type")) {
    Handle type = variable_string_type(owner);
    std::vector<char*> pointers(count, nullptr);
    check(owner, read_into(type.id(), pointers.data()), subject + "cannot read");
    for (char* pointer : pointers) {
      values.emplace_back(pointer ? pointer : "");
      H5free_memory(pointer);  // HDF5 allocated each string
    }
  } else {
    // Fixed-length strings (as h5py writes numpy "S" arrays): read unconverted, cut at the padding.
    const size_t width = H5Tget_size(stored_type);
    const bool space_padded = H5Tget_strpad(stored_type) == H5T_STR_SPACEPAD;
    std::vector<char> buffer(count * width);
    check(owner, read_into(stored_type, buffer.data()), subject + "cannot read");
    for (size_t i = 0; i < count; ++i) {
      const char* begin = buffer.data() + i * width;
      std::string value(begin, strnlen(begin, width));
      if (space_padded) value.erase(value.find_last_not_of(' ') + 1);
      values.push_back(std::move(value));
    }
  }
  return values;
}

hsize_t element_count(const Dims& dims) {
  hsize_t count = 1;
  for (hsize_t extent : dims) count *= extent;
  return count;
}

// Chunks of about 1 MiB that keep trailing axes whole where they fit and split the leading ones, so
// reading one row (one model) of a [models, params] dataset inflates a single chunk.
Dims chunk_dims(const Dims& dims, size_t element_size) {
  constexpr hsize_t kChunkBytes = hsize_t{1} << 20;
  Dims chunk = dims;
  for (size_t axis = 0; axis < chunk.size(); ++axis) {
    hsize_t slice_bytes = element_size;  // one step along this axis, with the axes after it whole
    for (size_t inner = axis + 1; inner < chunk.size(); ++inner) slice_bytes *= chunk[inner];
    chunk[axis] = std::clamp<hsize_t>(kChunkBytes / slice_bytes, 1, dims[axis]);
  }
  return chunk;
}

Dims space_dims(const Object& owner, hid_t space) {
  const int rank = check(owner, H5Sget_simple_extent_ndims(space), "cannot query the shape");
  Dims dims(rank);
  check(owner, H5Sget_simple_extent_dims(space, dims.data(), nullptr), "cannot query the shape");
  return dims;
}

}  // namespace

std::string dims_text(const Dims& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    text += (i ? ", " : "") + (dims[i] == kAnyExtent ? std::string("*") : std::to_string(dims[i]));
  }
  return text + "]";
}

// ---- Handle

Handle::Handle(Handle&& other) noexcept
    : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(other.closer_) {}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    close();
    id_ = std::exchange(other.id_, H5I_INVALID_HID);
    closer_ = other.closer_;
  }
  return *this;
}

herr_t Handle::close() {
  if (!valid()) return 0;
  const herr_t result = closer_(std::exchange(id_, H5I_INVALID_HID));
  return result;
}

// ---- Object

std::string Object::child_path(const std::string& name) const {
  return path_ == "/" ? "/" + name : path_ + "/" + name;
}

StorageError Object::error(const std::string& what) const {
  return storage_error(file_name_, path_, what, false);
}

StorageError Object::hdf5_error(const std::string& what) const {
  return storage_error(file_name_, path_, what, true);
}

bool Object::has_attribute(const std::string& name) const {
  return check(*this, H5Aexists(id(), name.c_str()), "cannot look up attribute " + name) > 0;
}

void Object::write_attribute_values(const std::string& name, const void* buffer, hid_t memory_type,
                                    hid_t stored_type, hid_t space) const {
  const std::string what = "cannot write attribute " + name;
  if (has_attribute(name)) check(*this, H5Adelete(id(), name.c_str()), what);
  Handle attribute = own(*this, H5Acreate2(id(), name.c_str(), stored_type, space, H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose, what);
  if (check(*this, H5Sget_simple_extent_npoints(space), what) > 0) {
    check(*this, H5Awrite(attribute.id(), memory_type, buffer), what);
  }
}

template <typename T>
void Object::write_attribute(const std::string& name, const T& value) const {
  const std::vector<T> values{value};
  const Encoded<T> encoded(*this, values);
  Handle space = own(*this, H5Screate(H5S_SCALAR), H5Sclose, "cannot write attribute " + name);
  write_attribute_values(name, encoded.buffer, encoded.memory_type(), encoded.stored_type(), space.id());
}

template <typename T>
void Object::write_array_attribute(const std::string& name, const std::vector<T>& values) const {
  const Encoded<T> encoded(*this, values);
  const hsize_t size = values.size();
  Handle space = own(*this, H5Screate_simple(1, &size, nullptr), H5Sclose, "cannot write attribute " + name);
  write_attribute_values(name, encoded.buffer, encoded.memory_type(), encoded.stored_type(), space.id());
}

template <typename T>
std::vector<T> Object::read_array_attribute(const std::string& name) const {
  const std::string subject = "attribute " + name + ": ";
  if (!has_attribute(name)) throw error("missing attribute " + name);
  Handle attribute = own(*this, H5Aopen(id(), name.c_str(), H5P_DEFAULT), H5Aclose, subject + "cannot open");
  Handle space = own(*this, H5Aget_space(attribute.id()), H5Sclose, subject + "cannot open");
  Handle type = own(*this, H5Aget_type(attribute.id()), H5Tclose, subject + "cannot open");
  const hssize_t count = check(*this, H5Sget_simple_extent_npoints(space.id()), subject + "cannot open");
  return decode<T>(*this, subject, type.id(), count, [&](hid_t memory_type, void* buffer) {
    return H5Aread(attribute.id(), memory_type, buffer);
  });
}

template <typename T>
T Object::read_attribute(const std::string& name) const {
  std::vector<T> values = read_array_attribute<T>(name);
  if (values.size() != 1) {
    throw error("attribute " + name + " holds " + std::to_string(values.size()) + " values, expected one");
  }
  return std::move(values.front());
}

// ---- Dataset

Dims Dataset::dims() const {
  Handle space = own(*this, H5Dget_space(id()), H5Sclose, "cannot query the shape");
  return space_dims(*this, space.id());
}

Dims Dataset::expect_dims(const Dims& expected) const {
  const Dims actual = dims();
  bool matches = actual.size() == expected.size();
  for (size_t axis = 0; matches && axis < actual.size(); ++axis) {
    matches = expected[axis] == kAnyExtent || expected[axis] == actual[axis];
  }
  if (!matches) throw error("has shape " + dims_text(actual) + ", expected " + dims_text(expected));
  return actual;
}

template <typename T>
std::vector<T> Dataset::read() const {
  Handle type = own(*this, H5Dget_type(id()), H5Tclose, "cannot query the type");
  return decode<T>(*this, "", type.id(), element_count(dims()), [&](hid_t memory_type, void* buffer) {
    return H5Dread(id(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
  });
}

// ---- Group

bool Group::has(const std::string& name) const {
  return check(*this, H5Lexists(id(), name.c_str(), H5P_DEFAULT), "cannot look up " + name) > 0;
}

std::vector<std::string> Group::names() const {
  std::vector<std::string> names;
  check(*this,
        H5Literate(
            id(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
            [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
              static_cast<std::vector<std::string>*>(out)->push_back(name);
              return 0;
            },
            &names),
        "cannot list members");
  return names;
}

Group Group::create_group(const std::string& name) const {
  Handle group = own(*this, H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                     "cannot create group " + name);
  return Group(std::move(group), file_name(), child_path(name));
}

Group Group::open_group(const std::string& name) const {
  if (!has(name)) throw error("missing group " + name);
  Handle group = own(*this, H5Gopen2(id(), name.c_str(), H5P_DEFAULT), H5Gclose, "cannot open group " + name);
  return Group(std::move(group), file_name(), child_path(name));
}

Dataset Group::open_dataset(const std::string& name) const {
  // The full path in the message tells the reader exactly which object the file lacks.
  if (!has(name)) throw storage_error(file_name(), "", "missing dataset " + child_path(name), false);
  Handle dataset =
      own(*this, H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose, "cannot open dataset " + name);
  return Dataset(std::move(dataset), file_name(), child_path(name));
}

void Group::remove(const std::string& name) const {
  check(*this, H5Ldelete(id(), name.c_str(), H5P_DEFAULT), "cannot remove " + name);
}

template <typename T>
Dataset Group::write(const std::string& name, const std::vector<T>& values, Dims dims,
                     Storage storage) const {
  if (dims.empty()) dims = {values.size()};
  const hsize_t count = element_count(dims);
  if (count != values.size()) {
    throw error("dataset " + name + " of shape " + dims_text(dims) + " given " +
                std::to_string(values.size()) + " values");
  }
  const std::string what = "cannot create dataset " + name;
  const Encoded<T> encoded(*this, values);
  Handle space =
      own(*this, H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose, what);
  Handle properties = own(*this, H5Pcreate(H5P_DATASET_CREATE), H5Pclose, what);
  if (storage == Storage::kCompressed && count > 0) {
    const Dims chunk = chunk_dims(dims, H5Tget_size(encoded.stored_type()));
    check(*this, H5Pset_chunk(properties.id(), static_cast<int>(chunk.size()), chunk.data()), what);
    check(*this, H5Pset_shuffle(properties.id()), what);  // byte planes compress far better than floats
    check(*this, H5Pset_deflate(properties.id(), 4), what);
  }
  Handle handle = own(*this,
                      H5Dcreate2(id(), name.c_str(), encoded.stored_type(), space.id(), H5P_DEFAULT,
                                 properties.id(), H5P_DEFAULT),
                      H5Dclose, what);
  Dataset dataset(std::move(handle), file_name(), child_path(name));
  if (count > 0) {
    check(dataset,
          H5Dwrite(dataset.id(), encoded.memory_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, encoded.buffer),
          "cannot write");
  }
  return dataset;
}

// ---- File

File::File(const std::string& name, Mode mode) : name_(name) {
  silence_error_printing();
  const bool create = mode == Mode::kCreate;
  const std::string what = create ? "cannot create file" : "cannot open file";
  const hid_t access = H5Pcreate(H5P_FILE_ACCESS);
  if (access < 0) throw storage_error(name, "", what, true);
  Handle access_handle(access, H5Pclose);
  // Closing the file closes every object still open in it, so none keeps it open past a rename.
  if (H5Pset_fclose_degree(access, H5F_CLOSE_STRONG) < 0) throw storage_error(name, "", what, true);
  const hid_t file =
      create ? H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access)
             : H5Fopen(name.c_str(), mode == Mode::kReadOnly ? H5F_ACC_RDONLY : H5F_ACC_RDWR, access);
  if (file < 0) throw storage_error(name, "", what, true);
  handle_ = Handle(file, H5Fclose);
}

Group File::root() const {
  const hid_t group = H5Gopen2(handle_.id(), "/", H5P_DEFAULT);
  if (group < 0) throw storage_error(name_, "/", "cannot open the root group", true);
  return Group(Handle(group, H5Gclose), name_, "/");
}

void File::close() {
  if (handle_.close() < 0) throw storage_error(name_, "", "cannot write and close file", true);
}

bool is_hdf5(const std::string& file_name) {
  silence_error_printing();
  const htri_t result = H5Fis_hdf5(file_name.c_str());
  if (result < 0) throw storage_error(file_name, "", "cannot read file", true);
  return result > 0;
}

File open_existing(const std::string& file_name) {
  std::error_code ignored;
  if (!std::filesystem::exists(file_name, ignored)) throw StorageError(file_name + ": no such file");
  if (!is_hdf5(file_name)) throw StorageError(file_name + ": not an HDF5 file");
  return File(file_name, File::Mode::kReadOnly);
}

void require_schema_version(const Group& root, const std::string& file_name, const std::string& kind, int32_t expected) {
  if (!root.has_attribute("schema_version")) {
    throw StorageError(file_name + ": no schema_version attribute (not a genzoo " + kind + " file)");
  }
  const int32_t version = root.read_attribute<int32_t>("schema_version");
  if (version != expected) {
    throw StorageError(file_name + ": " + kind + " schema_version " + std::to_string(version) + ", this genzoo reads " +
                       std::to_string(expected));
  }
}

File open_kind(const std::string& file_name, const std::string& kind, int32_t expected) {
  File file = open_existing(file_name);
  const Group root = file.root();
  if (!root.has_attribute("kind") || root.read_attribute<std::string>("kind") != kind) {
    throw StorageError(file_name + ": not a genzoo " + kind + " file (no root attribute kind = \"" + kind + "\")");
  }
  require_schema_version(root, file_name, kind, expected);
  return file;
}

namespace {
// HDF5 leaves the data in the page cache; syncing before the rename keeps a power loss from exposing
// a complete-looking name whose blocks never reached the disk.
void sync_to_disk(const std::string& file_name) {
  const int fd = ::open(file_name.c_str(), O_RDONLY);
  const bool synced = fd >= 0 && (::fsync(fd) == 0 || errno == EINVAL);  // EINVAL: no fsync on this fs
  const int error = errno;
  if (fd >= 0) ::close(fd);
  if (!synced) throw StorageError(file_name + ": cannot sync to disk: " + std::strerror(error));
}
}  // namespace

void write_file_atomically(const std::string& file_name, const std::function<void(const Group& root)>& write) {
  const std::string temp = file_name + ".tmp-" + std::to_string(::getpid());
  try {
    File file(temp, File::Mode::kCreate);
    write(file.root());
    file.close();
    sync_to_disk(temp);
    if (std::rename(temp.c_str(), file_name.c_str()) != 0) {
      throw StorageError(file_name + ": cannot rename " + temp + " into place: " + std::strerror(errno));
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);  // never leave a half-written file behind
    throw;
  }
}

// ---- the element types genzoo stores

#define GENZOO_H5_INSTANTIATE(T)                                                                   \
  template void Object::write_attribute<T>(const std::string&, const T&) const;                    \
  template void Object::write_array_attribute<T>(const std::string&, const std::vector<T>&) const; \
  template T Object::read_attribute<T>(const std::string&) const;                                  \
  template std::vector<T> Object::read_array_attribute<T>(const std::string&) const;               \
  template std::vector<T> Dataset::read<T>() const;                                                \
  template Dataset Group::write<T>(const std::string&, const std::vector<T>&, Dims, Storage) const;

GENZOO_H5_INSTANTIATE(int32_t)
GENZOO_H5_INSTANTIATE(int64_t)
GENZOO_H5_INSTANTIATE(uint64_t)
GENZOO_H5_INSTANTIATE(float)
GENZOO_H5_INSTANTIATE(double)
GENZOO_H5_INSTANTIATE(std::string)

#undef GENZOO_H5_INSTANTIATE

}  // namespace genzoo::h5
