// The MPI world of a genzoo process. MPI is initialized only when a launcher (mpirun, srun) started
// the process, so a plain `genzoo train` needs no MPI runtime. Messages are C++ structs serialized
// with Boost.Serialization; every MPI call is checked.
#pragma once

#include <sstream>
#include <string>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

namespace genzoo {

class Comm {
 public:
  // Initializes MPI on first use when launched by mpirun/srun.
  static Comm& world();

  bool parallel() const { return size_ > 1 || initialized_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  void barrier();
  // Raw bytes, for serialized messages.
  void send_bytes(const std::string& bytes, int dest, int tag);
  // Non-blocking check for a message with tag from any rank; on success receives it.
  bool try_receive_bytes(int tag, std::string& bytes, int& source);
  // Blocking receive from a given rank (or any when source < 0).
  std::string receive_bytes(int source, int tag, int* actual_source = nullptr);
  // Rank 0's bytes to every rank.
  std::string broadcast_bytes(const std::string& bytes);

  template <class T>
  void send(const T& message, int dest, int tag) {
    send_bytes(serialize(message), dest, tag);
  }
  template <class T>
  bool try_receive(int tag, T& message, int& source) {
    std::string bytes;
    if (!try_receive_bytes(tag, bytes, source)) return false;
    message = deserialize<T>(bytes);
    return true;
  }
  template <class T>
  T receive(int source, int tag, int* actual_source = nullptr) {
    return deserialize<T>(receive_bytes(source, tag, actual_source));
  }
  template <class T>
  T broadcast(const T& message) {
    return deserialize<T>(broadcast_bytes(rank_ == 0 ? serialize(message) : std::string()));
  }

  // Wall time spent inside MPI calls so far (messaging cost of the scheduler).
  double seconds_in_mpi() const { return seconds_in_mpi_; }

  // Ends MPI cleanly (all ranks must call it).
  void finalize();
  // Kills every rank of the job (after one rank failed): never returns.
  [[noreturn]] void abort(int code);

  template <class T>
  static std::string serialize(const T& message) {
    std::ostringstream out;
    {
      boost::archive::binary_oarchive archive(out);
      archive << message;
    }
    return out.str();
  }
  template <class T>
  static T deserialize(const std::string& bytes) {
    std::istringstream in(bytes);
    boost::archive::binary_iarchive archive(in);
    T message;
    archive >> message;
    return message;
  }

 private:
  Comm();
  bool initialized_ = false;
  bool finalized_ = false;
  int rank_ = 0;
  int size_ = 1;
  double seconds_in_mpi_ = 0.0;
  friend class MpiTimer;
};

// True when a launcher started this process as part of an MPI job.
bool launched_by_mpi();

// Prints "genzoo: error: [rank R] message" on stderr and, in an MPI job, aborts every rank so that
// nothing hangs waiting for this one. Returns the exit code for a single process.
int report_fatal_error(const std::string& message);

}  // namespace genzoo
