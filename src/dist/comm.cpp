#include "dist/comm.h"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "common/error.h"

namespace genzoo {

// Adds the lifetime of a scope to Comm::seconds_in_mpi().
class MpiTimer {
 public:
  explicit MpiTimer(Comm& comm) : comm_(comm), start_(std::chrono::steady_clock::now()) {}
  ~MpiTimer() { comm_.seconds_in_mpi_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  Comm& comm_;
  std::chrono::steady_clock::time_point start_;
};

namespace {
void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw MpiError(std::string(what) + " failed: " + std::string(text, length));
}
}  // namespace

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(name)) return true;
  }
  return false;
}

Comm::Comm() {
  if (!launched_by_mpi()) return;
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  initialized_ = true;
  // Errors come back as codes (and become MpiError) instead of killing the job without a message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

Comm& Comm::world() {
  static Comm comm;
  return comm;
}

void Comm::barrier() {
  MpiTimer timer(*this);
  if (initialized_) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void Comm::send_bytes(const std::string& bytes, int dest, int tag) {
  MpiTimer timer(*this);
  check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD), "MPI_Send");
}

bool Comm::try_receive_bytes(int tag, std::string& bytes, int& source) {
  if (!initialized_) return false;
  MpiTimer timer(*this);
  int flag = 0;
  MPI_Status status;
  check(MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &status), "MPI_Iprobe");
  if (!flag) return false;
  bytes = receive_bytes(status.MPI_SOURCE, tag, &source);
  return true;
}

std::string Comm::receive_bytes(int source, int tag, int* actual_source) {
  MpiTimer timer(*this);
  MPI_Status status;
  check(MPI_Probe(source < 0 ? MPI_ANY_SOURCE : source, tag, MPI_COMM_WORLD, &status), "MPI_Probe");
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  std::string bytes(count, '\0');
  check(MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  if (actual_source) *actual_source = status.MPI_SOURCE;
  return bytes;
}

std::string Comm::broadcast_bytes(const std::string& bytes) {
  MpiTimer timer(*this);
  if (!initialized_) return bytes;
  long long length = static_cast<long long>(bytes.size());
  check(MPI_Bcast(&length, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = rank_ == 0 ? bytes : std::string(static_cast<size_t>(length), '\0');
  check(MPI_Bcast(out.data(), static_cast<int>(length), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
}

void Comm::finalize() {
  if (initialized_ && !finalized_) {
    MPI_Finalize();
    finalized_ = true;
  }
}

void Comm::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (initialized_) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

int report_fatal_error(const std::string& message) {
  Comm& comm = Comm::world();
  if (comm.parallel()) {
    std::fprintf(stderr, "genzoo: error: [rank %d of %d] %s\n", comm.rank(), comm.size(), message.c_str());
    // A collective finalize would hang while the other ranks wait for this one: abort them all.
    comm.abort(1);
  }
  std::fprintf(stderr, "genzoo: error: %s\n", message.c_str());
  return 1;
}

}  // namespace genzoo
