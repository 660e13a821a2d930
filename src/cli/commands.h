// Each subcommand registers itself on the CLI11 app and returns the function that runs it.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace genzoo::cli {

using Runner = std::function<int()>;

Runner add_train_command(CLI::App& app);
Runner add_merge_command(CLI::App& app);
Runner add_status_command(CLI::App& app);
Runner add_plan_command(CLI::App& app);
Runner add_inspect_command(CLI::App& app);
Runner add_bench_command(CLI::App& app);
Runner add_reduce_command(CLI::App& app);
Runner add_distill_command(CLI::App& app);
Runner add_job_reference_command(CLI::App& app);

}  // namespace genzoo::cli
