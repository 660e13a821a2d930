// Integration tests for src/cli/reduce_command.cpp (and `genzoo inspect reduce.h5`): the real binary
// reduces a zoo trained from tests/data/jobs/tiny.toml (conv_ae widened to 10 models so that every
// family can be split, plus a probe gap sweep), single-process and under mpirun -np 2; bad zoos give
// one-line errors; analysis/genzoo_reduce.py reads the result.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "helpers.h"
#include "reduce/reduce_file.h"
#include "reduce/vectorize.h"
#include "store/zoo.h"

namespace genzoo::test {
namespace {

namespace fs = std::filesystem;

// Few encoder steps: these tests check the plumbing, not the figures.
constexpr const char* kFastOptions = " --epochs 100 --quiet";

// tiny.toml with one line replaced (the line must be there).
std::string replace_line(std::string text, const std::string& line, const std::string& replacement) {
  const auto at = text.find(line);
  if (at == std::string::npos) throw std::runtime_error("tiny.toml has no line '" + line + "'");
  return text.replace(at, line.size(), replacement);
}

// tiny.toml with 10 conv_ae models and a probe gap sweep (dataset B at gaps 0.1 and 0.3).
std::string reduce_job_text() {
  const std::string text = replace_line(read_text(tiny_job_path()), "models = 4\n", "models = 10\n");
  return replace_line(text, "keep = 0.5\n", "keep = 0.5\ngaps = [0.1, 0.3]\n");
}

// A private copy of the trained zoo (reference runs are shared and must not change).
std::string zoo_copy(const TempDir& dir, const std::string& run) {
  fs::copy_file(run + "/zoo.h5", dir.file("zoo.h5"));
  return dir.file("zoo.h5");
}

TEST(ReduceCommand, WritesReduceFileNextToTheZooAndPrintsTheTables) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, reference_run("tiny-reduce", reduce_job_text()));
  const CommandResult result = run_genzoo("reduce " + shell_quote(zoo) + kFastOptions);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* part : {"dataset-identification probe", "embedding (test models", "mutual information",
                           "  linear_ae  svd          logistic", "  conv_ae    layer_stats", "hierarchy:",
                           "  linear_ae  combined"}) {
    EXPECT_NE(result.output.find(part), std::string::npos) << part << "\n" << result.output;
  }
  EXPECT_NE(result.output.find("wrote " + dir.file("reduce.h5")), std::string::npos) << result.output;
  EXPECT_EQ(count_files(dir.path(), "reduce.h5.tmp", ""), 0);

  // Plain h5py + numpy + scipy: svd features are the singular values of the stored weights, the
  // dendrogram draws, every advertised group is there.
  const std::string script =
      "import h5py, numpy as np\n"
      "from scipy.cluster import hierarchy\n"
      "r = h5py.File('" + dir.file("reduce.h5") + "', 'r')\n"
      "z = h5py.File('" + zoo + "', 'r')\n"
      "f = r['features/svd']\n"
      "fam = f['family'].asstr()[()]\n"
      "assert sorted(set(fam)) == ['conv_ae', 'linear_ae'] and len(fam) == 28, fam\n"
      "row = list(fam).index('linear_ae')\n"
      "mid = f['model_id'][row]\n"
      "w = z['weights/linear_ae']\n"
      "flat = w['data'][list(w['model_id'][()]).index(mid)]\n"
      "s1 = np.linalg.svd(flat[:16 * 784].reshape(16, 784), compute_uv=False)\n"
      "assert np.allclose(f['data'][row, :16], s1, rtol=1e-4, atol=1e-6), (f['data'][row, :16], s1)\n"
      "for name in ['hist', 'layer_stats', 'latent_mean', 'svd']:\n"
      "    assert name in r['features'], name\n"
      "for fam in ['linear_ae', 'conv_ae']:\n"
      "    Z = r['hierarchy'][fam]['linkage'][()]\n"
      "    assert hierarchy.is_valid_linkage(Z, throw=True)\n"
      "    hierarchy.dendrogram(Z, no_plot=True)\n"
      "    e = r['embedding'][fam][r['embedding'][fam].attrs['selected_feature']]\n"
      "    for a in ['angular_error_deg', 'hellinger_spearman', 'additivity_rel_error', 'order_violation_rate', 'cophenetic_corr']:\n"
      "        assert a in e.attrs, a\n"
      "    assert e['u'].shape[1] == 3 and np.allclose((e['u'][()] ** 2).sum(1), 1)\n"
      "    c = r['embedding'][fam]['combined']  # every vectorization side by side\n"
      "    assert c['model_id'].shape == r['embedding'][fam]['svd']['model_id'].shape and c['u'].shape[1] == 3\n"
      "p = r['probe/linear_ae/svd']\n"
      "assert 0 <= p.attrs['precision'] <= 1 and 0 <= p.attrs['recall'] <= 1\n"
      "assert set(p.keys()) == {'logistic', 'mlp'}\n"
      "g = p['logistic']\n"
      "assert np.allclose(g['gap'][()], [0.1, 0.3]) and g['gap_recall'].shape == (2,), g['gap'][()]\n"
      "assert 'mi_nats' in r['information/linear_ae/svd'].attrs\n"
      "print('ok')\n";
  write_text(dir.file("check.py"), script);
  const CommandResult check = run_command("/usr/bin/python3 " + shell_quote(dir.file("check.py")));
  EXPECT_EQ(check.exit_code, 0) << check.output;

  // inspect tells a reduce file from a zoo by its root attributes.
  const CommandResult inspected = run_genzoo("inspect " + shell_quote(dir.file("reduce.h5")));
  ASSERT_EQ(inspected.exit_code, 0) << inspected.output;
  EXPECT_NE(inspected.output.find("dataset-identification probe"), std::string::npos) << inspected.output;
  EXPECT_NE(inspected.output.find("angle_deg"), std::string::npos) << inspected.output;
  const CommandResult zoo_inspected = run_genzoo("inspect " + shell_quote(zoo));
  ASSERT_EQ(zoo_inspected.exit_code, 0) << zoo_inspected.output;
  EXPECT_NE(zoo_inspected.output.find("designs:"), std::string::npos) << zoo_inspected.output;
}

// analysis/genzoo_reduce.py, the users' reader, on real reduce files: tests/data/check_reduce.py
// compares each of its functions with raw h5py reads (feature matrices and ids, probe scores and gap
// sweeps, embeddings with unit-norm shapes, a valid scipy linkage whose member lists match its counts,
// mutual information) and checks that other files are refused; its __main__ prints the summary.
constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with h5py, numpy and scipy

std::string check_reduce_command(const std::string& reduce, const std::string& zoo, const std::string& embedded,
                                 const std::string& gaps) {
  return std::string(kPython) + " " + shell_quote(source_dir() + "/tests/data/check_reduce.py") + " " + shell_quote(reduce) +
         " " + shell_quote(zoo) + " " + shell_quote(source_dir() + "/analysis") + " " + shell_quote(embedded) + " " +
         shell_quote(gaps);
}

std::string reduce_summary_command(const std::string& reduce) {
  return std::string(kPython) + " " + shell_quote(source_dir() + "/analysis/genzoo_reduce.py") + " " + shell_quote(reduce);
}

TEST(ReduceCommand, PythonReaderAgreesWithRawFile) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, reference_run("tiny-reduce", reduce_job_text()));
  const CommandResult reduced = run_genzoo("reduce " + shell_quote(zoo) + kFastOptions);
  ASSERT_EQ(reduced.exit_code, 0) << reduced.output;
  const std::string reduce = dir.file("reduce.h5");

  // Both families embedded (10 and 18 models); the job's gap sweep is 0.1, 0.3.
  const CommandResult check = run_command(check_reduce_command(reduce, zoo, "conv_ae,linear_ae", "0.1,0.3"));
  ASSERT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("analysis/genzoo_reduce.py checked: "), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("2 embedded families (28 leaves)"), std::string::npos) << check.output;

  const CommandResult summary = run_command(reduce_summary_command(reduce));
  ASSERT_EQ(summary.exit_code, 0) << summary.output;
  for (const char* part : {"families: conv_ae, linear_ae", "  svd          conv_ae 10x", "linear_ae 18x", "probe (best classifier",
                           "  conv_ae    10 leaves, root height", "  linear_ae  18 leaves, root height", "mutual information"}) {
    EXPECT_NE(summary.output.find(part), std::string::npos) << part << "\n" << summary.output;
  }

  // A zoo file is refused with one line, not misread.
  const CommandResult refused = run_command(reduce_summary_command(zoo));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_EQ(output_lines(refused.output).size(), 1u) << refused.output;
  EXPECT_NE(refused.output.find("not a genzoo reduce file"), std::string::npos) << refused.output;
}

// tiny's conv_ae (4 models) gets features but no embedding: the reader says why instead of failing
// somewhere inside h5py, and the summary shows it.
TEST(ReduceCommand, PythonReaderExplainsAFamilyWithoutEmbedding) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, tiny_reference_run());
  const CommandResult reduced = run_genzoo("reduce " + shell_quote(zoo) + kFastOptions);
  ASSERT_EQ(reduced.exit_code, 0) << reduced.output;
  const std::string reduce = dir.file("reduce.h5");

  const CommandResult check = run_command(check_reduce_command(reduce, zoo, "linear_ae", ""));
  ASSERT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("1 embedded families (16 leaves)"), std::string::npos) << check.output;

  const CommandResult summary = run_command(reduce_summary_command(reduce));
  ASSERT_EQ(summary.exit_code, 0) << summary.output;
  for (const char* part : {"families: conv_ae, linear_ae", "conv_ae    not embedded: family conv_ae has 4 models",
                           "  linear_ae  16 leaves"}) {
    EXPECT_NE(summary.output.find(part), std::string::npos) << part << "\n" << summary.output;
  }
}

// Two ranks vectorize half the models each; rank 0 gathers: the same features and the same file
// contents as one process (the training after the gather is the same code on the same data).
TEST(ReduceCommand, TwoRanksGiveTheSameFeaturesAsOne) {
  const std::string run = reference_run("tiny-reduce", reduce_job_text());
  TempDir one, two;
  const std::string zoo_one = zoo_copy(one, run), zoo_two = zoo_copy(two, run);
  const CommandResult single = run_genzoo("reduce " + shell_quote(zoo_one) + kFastOptions);
  ASSERT_EQ(single.exit_code, 0) << single.output;
  const CommandResult parallel = run_command(genzoo_mpi_command(2, "reduce " + shell_quote(zoo_two) + kFastOptions, 600));
  ASSERT_EQ(parallel.exit_code, 0) << parallel.output;
  EXPECT_NE(parallel.output.find("wrote " + two.file("reduce.h5")), std::string::npos) << parallel.output;
  const ReduceData a = read_reduce(one.file("reduce.h5")), b = read_reduce(two.file("reduce.h5"));
  ASSERT_EQ(a.features.size(), b.features.size());
  for (const auto& [name, by_family] : a.features) {
    for (const auto& [family, matrix] : by_family) {
      const FeatureMatrix& other = b.features.at(name).at(family);
      EXPECT_EQ(matrix.model_ids, other.model_ids) << name << " " << family;
      ASSERT_EQ(matrix.data.size(), other.data.size()) << name << " " << family;
      for (size_t i = 0; i < matrix.data.size(); ++i) {
        EXPECT_NEAR(matrix.data[i], other.data[i], 1e-6 * (1.0 + std::abs(matrix.data[i]))) << name << " " << family << " " << i;
      }
    }
  }
  ASSERT_EQ(a.probes.size(), b.probes.size());
  ASSERT_EQ(a.embeddings.size(), b.embeddings.size());
}

// The priors (issue 12): the job's prior_* keys drive /priors; plain h5py and analysis/genzoo_reduce.py
// read them, numpy's Woodbury log density of a held-out model agrees with the stored check, the aligned
// prior has the student's layout; --priors-only recomputes the priors alone.
std::string priors_job_text() {
  return reduce_job_text() + "\n[reduce]\nprior_min_members = 4\nprior_rank = 2\n"
         "prior_students = [\"linear_ae:latent=8\", \"conv_ae:latent=4,channels=2\"]\nprior_teachers = [0]\n";
}

TEST(ReduceCommand, PriorsAreStoredCheckedAndReadableFromPython) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, reference_run("tiny-reduce", reduce_job_text()));
  write_text(dir.file("job.toml"), priors_job_text());
  const CommandResult result =
      run_genzoo("reduce " + shell_quote(zoo) + " --config " + shell_quote(dir.file("job.toml")) + " --epochs 100");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* part : {"priors N(m, D + F F^T) (rank = 2", "linear_ae  1 laplace", "1 swag", "aligned to latent=8",
                           "held-out check"}) {
    EXPECT_NE(result.output.find(part), std::string::npos) << part << "\n" << result.output;
  }
  const std::string script =
      "import sys, h5py, numpy as np\n"
      "sys.path.insert(0, '" + source_dir() + "/analysis')\n"
      "import genzoo_reduce as gr\n"
      "path = '" + dir.file("reduce.h5") + "'\n"
      "r = h5py.File(path, 'r')\n"
      "z = h5py.File('" + zoo + "', 'r')\n"
      "rows = gr.priors(path, 'linear_ae')\n"
      "kinds = sorted({row['kind'] for row in rows})\n"
      "assert kinds == ['laplace', 'node', 'swag'], kinds\n"
      "ids = set(z['models/id'][()])\n"
      "for row in rows:\n"
      "    p = gr.prior(path, 'linear_ae', row['name'])\n"
      "    assert p['mean'].size == 25888, p['mean'].shape\n"
      "    assert np.all(p['diag'] > 0) and np.all(np.isfinite(p['factor']))\n"
      "    assert set(p['member_ids']) <= ids\n"
      "    assert abs(p['proportions'].sum() - 1) < 1e-9 and np.allclose(p['shape'] ** 2, p['proportions'])\n"
      "    a = gr.prior(path, 'linear_ae', row['name'], student='latent=8')\n"
      "    t = gr.unflatten(gr.sample_prior(a, 2, np.random.default_rng(1))[0], a['layout'])\n"
      "    assert t['encoder.weight'].shape == (8, 784) and t['decoder.weight'].shape == (784, 8), t.keys()\n"
      "    assert len(a['steps']) == 8 and all(s.startswith('phi(code, ') for s in a['steps']), a['steps']\n"
      "    assert a['order'] == 'density_ratio'\n"
      "c = gr.prior_check(path, 'linear_ae')\n"
      "assert len(c['model_id']) >= 1\n"
      "w = z['weights/linear_ae']\n"
      "wid = list(w['model_id'][()])\n"
      "for mid, node, logn, logr in zip(c['model_id'], c['node'], c['log_node'], c['log_root']):\n"
      "    x = w['data'][wid.index(mid)].astype(np.float64)\n"
      "    p = gr.prior(path, 'linear_ae', node)\n"
      "    assert mid not in set(p['member_ids']), 'a held-out model was fitted'\n"
      "    ours = gr.prior_log_density(p, x)[0]\n"
      "    assert abs(ours - logn) < 1e-6 * abs(logn) + 1e-3, (ours, logn)\n"
      "    root = gr.prior(path, 'linear_ae', 'root-g0')\n"
      "    assert abs(gr.prior_log_density(root, x)[0] - logr) < 1e-6 * abs(logr) + 1e-3\n"
      "# SWAG's mean is the mean of the iterates: the checkpoints and the final weights of model 0\n"
      "s = gr.prior(path, 'linear_ae', 'swag-m0')\n"
      "cp = z['checkpoints/linear_ae/data'][list(z['checkpoints/linear_ae/model_id'][()]).index(0)]\n"
      "it = np.vstack([cp, w['data'][wid.index(0)][None]])\n"
      "assert np.allclose(s['mean'], it.mean(0), atol=1e-6)\n"
      "l = gr.prior(path, 'linear_ae', 'laplace-m0')\n"
      "assert np.allclose(l['mean'], w['data'][wid.index(0)]) and np.all(l['diag'] <= 1.0 + 1e-6)\n"
      "conv = gr.prior(path, 'conv_ae', 'root-g0', student='latent=4,channels=2')\n"
      "assert gr.unflatten(conv['mean'], conv['layout'])['encoder.conv1.weight'].shape == (2, 1, 4, 4)\n"
      "print('ok')\n";
  write_text(dir.file("check.py"), script);
  const CommandResult check = run_command("/usr/bin/python3 " + shell_quote(dir.file("check.py")));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  const CommandResult example = run_command("/usr/bin/python3 " + shell_quote(source_dir() + "/analysis/examples/sample_prior.py") +
                                            " " + shell_quote(dir.file("reduce.h5")) + " linear_ae root-g0 latent=8");
  EXPECT_EQ(example.exit_code, 0) << example.output;
  EXPECT_NE(example.output.find("encoder.weight       (8, 784)"), std::string::npos) << example.output;

  // --priors-only under another rank: the priors change, the features and embeddings do not.
  const ReduceData before = read_reduce(dir.file("reduce.h5"));
  write_text(dir.file("job1.toml"), replace_line(priors_job_text(), "prior_rank = 2\n", "prior_rank = 1\n"));
  const CommandResult again = run_genzoo("reduce " + shell_quote(zoo) + " --config " + shell_quote(dir.file("job1.toml")) +
                                         " --priors-only --quiet");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const ReduceData after = read_reduce(dir.file("reduce.h5"));
  ASSERT_EQ(before.features.size(), after.features.size());
  EXPECT_EQ(before.features.at("svd").at("linear_ae").data, after.features.at("svd").at("linear_ae").data);
  ASSERT_EQ(before.embeddings.size(), after.embeddings.size());
  EXPECT_EQ(before.embeddings[0].result.u, after.embeddings[0].result.u);
  ASSERT_FALSE(after.priors.empty());
  for (const auto& p : after.priors) {
    if (p.kind == "node") { EXPECT_EQ(p.gaussian.rank, 1) << p.name; }
  }
  // Without an existing reduce.h5, --priors-only is a one-line error.
  TempDir empty;
  const std::string lone = zoo_copy(empty, reference_run("tiny-reduce", reduce_job_text()));
  expect_one_line_error(run_genzoo("reduce " + shell_quote(lone) + " --priors-only"), {"reduce.h5"});
}

// tiny's conv_ae has 4 models, too few for a train/validation/test split: asked for by name, that
// is an error; by default the family gets features and probe but no embedding, and the output says so.
TEST(ReduceCommand, FamilyTooSmallForTheSplitIsAnErrorWhenNamedAndSkippedVisiblyOtherwise) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, tiny_reference_run());
  expect_one_line_error(run_genzoo("reduce " + shell_quote(zoo) + " --families conv_ae" + kFastOptions),
                        {"family conv_ae has 4 models", "at least 10"});
  EXPECT_FALSE(fs::exists(dir.file("reduce.h5")));
  EXPECT_EQ(count_files(dir.path(), "reduce.h5", ""), 0);

  const CommandResult result = run_genzoo("reduce " + shell_quote(zoo) + kFastOptions);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("conv_ae: not embedded: family conv_ae has 4 models"), std::string::npos) << result.output;
  const ReduceData data = read_reduce(dir.file("reduce.h5"));
  EXPECT_EQ(data.features.at("svd").count("conv_ae"), 1u);
  EXPECT_EQ(data.selected_features.count("conv_ae"), 0u);
  EXPECT_EQ(data.selected_features.count("linear_ae"), 1u);
  EXPECT_NE(data.not_embedded.at("conv_ae").find("at least 10"), std::string::npos);
}

// Issue 16: models marked garbage (here a linear_ae table at lr 1.0) are left out of the reduction by
// default, with a line saying how many, and kept with --include-garbage.
TEST(ReduceCommand, GarbageModelsAreLeftOutUnlessAskedFor) {
  const std::string job = reduce_job_text() +
                          "\n[[family]]\nname = \"linear_ae\"\nmodels = 3\nlatent = 16\nsteps = 100\n"
                          "batch_size = 32\nlr = 1.0\nchunk_models = 5\ncheckpoint_steps = [10, 40]\n";
  const std::string run = reference_run("tiny-garbage", job);
  std::set<int64_t> garbage;
  int64_t linear_models = 0;
  const ZooData zoo_data = read_zoo(run + "/zoo.h5");
  for (const ModelRecord& m : zoo_data.models) {
    if (m.status == "garbage") garbage.insert(m.id);
    linear_models += m.family == "linear_ae";
  }
  ASSERT_EQ(garbage.size(), 3u) << "the lr = 1.0 table";
  // inspect and status count them.
  const std::string total = std::to_string(zoo_data.models.size());
  const CommandResult inspected = run_genzoo("inspect " + shell_quote(run + "/zoo.h5"));
  EXPECT_NE(inspected.output.find("status:  garbage 3 ok " + std::to_string(zoo_data.models.size() - 3)), std::string::npos)
      << inspected.output;
  const CommandResult status = run_genzoo("status " + shell_quote(run));
  EXPECT_NE(status.output.find(total + "/" + total + " models, 3 garbage"), std::string::npos) << status.output;
  for (const bool include : {false, true}) {
    TempDir dir;
    const std::string zoo = zoo_copy(dir, run);
    const CommandResult result =
        run_genzoo("reduce " + shell_quote(zoo) + " --features svd" + kFastOptions + (include ? " --include-garbage" : ""));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.output.find("left out 3 garbage model(s)") != std::string::npos, !include) << result.output;
    const FeatureMatrix& svd = read_reduce(dir.file("reduce.h5")).features.at("svd").at("linear_ae");
    int64_t kept_garbage = 0;
    for (const int64_t id : svd.model_ids) kept_garbage += garbage.count(id);
    EXPECT_EQ(kept_garbage, include ? 3 : 0);
    EXPECT_EQ(svd.rows() + (include ? 0 : 3), linear_models);
  }
}

TEST(ReduceCommand, ZooOfAnotherSchemaVersionIsOneLine) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, tiny_reference_run());
  const CommandResult changed =
      run_command("/usr/bin/python3 -c \"import h5py; f = h5py.File('" + zoo + "', 'a'); f.attrs['schema_version'] = 2\"");
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  expect_one_line_error(run_genzoo("reduce " + shell_quote(zoo) + kFastOptions), {zoo, "schema_version 2"});
  EXPECT_FALSE(fs::exists(dir.file("reduce.h5")));
}

TEST(ReduceCommand, UnknownVectorizationOrFamilyIsOneLine) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, tiny_reference_run());
  expect_one_line_error(run_genzoo("reduce " + shell_quote(zoo) + " --features pca --quiet"), {"unknown vectorization 'pca'"});
  expect_one_line_error(run_genzoo("reduce " + shell_quote(zoo) + " --families vae --quiet"),
                        {"no family vae (it has: conv_ae, linear_ae)"});
}

// The job's [reduce] section drives the stage; command-line options override it key by key.
TEST(ReduceCommand, ReduceSectionOfTheJobIsUsedAndOptionsOverrideIt) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, reference_run("tiny-reduce", reduce_job_text()));
  write_text(dir.file("job.toml"), reduce_job_text() + "\n[reduce]\nfeatures = [\"svd\", \"hist\"]\nfolds = 2\nepochs = 50\n");
  const std::string base = "reduce " + shell_quote(zoo) + " --config " + shell_quote(dir.file("job.toml")) + " --quiet";
  const auto feature_names = [](const ReduceData& data) {
    std::vector<std::string> names;
    for (const auto& entry : data.features) names.push_back(entry.first);
    return names;
  };

  const CommandResult from_job = run_genzoo(base + " -o " + shell_quote(dir.file("job.h5")));
  ASSERT_EQ(from_job.exit_code, 0) << from_job.output;
  const ReduceData by_job = read_reduce(dir.file("job.h5"));
  EXPECT_EQ(feature_names(by_job), (std::vector<std::string>{"hist", "svd"}));
  for (const char* line : {"features = [\"svd\", \"hist\"]\n", "folds = 2\n", "epochs = 50\n", "patience = 300\n"}) {
    EXPECT_NE(by_job.attrs.reduce_config.find(line), std::string::npos) << line << by_job.attrs.reduce_config;
  }

  const CommandResult overridden = run_genzoo(base + " --features layer_stats --folds 3 -o " + shell_quote(dir.file("cli.h5")));
  ASSERT_EQ(overridden.exit_code, 0) << overridden.output;
  const ReduceData by_cli = read_reduce(dir.file("cli.h5"));
  EXPECT_EQ(feature_names(by_cli), (std::vector<std::string>{"layer_stats"}));
  for (const char* line : {"features = [\"layer_stats\"]\n", "folds = 3\n", "epochs = 50\n"}) {
    EXPECT_NE(by_cli.attrs.reduce_config.find(line), std::string::npos) << line << by_cli.attrs.reduce_config;
  }

  // An unknown vectorization in the job is refused before any work, naming the registered ones.
  write_text(dir.file("bad.toml"), reduce_job_text() + "\n[reduce]\nfeatures = [\"pca\"]\n");
  expect_one_line_error(run_genzoo("reduce " + shell_quote(zoo) + " --config " + shell_quote(dir.file("bad.toml")) + " --quiet"),
                        {"unknown vectorization 'pca'", "latent_mean"});
}

TEST(ReduceCommand, BadConfigJobIsOneLineNamingTheFile) {
  TempDir dir;
  const std::string zoo = zoo_copy(dir, tiny_reference_run());
  write_text(dir.file("job.toml"), "name = \"x\"\nseed = 1\nbogus_key = 3\n");
  expect_one_line_error(run_genzoo("reduce " + shell_quote(zoo) + " --config " + shell_quote(dir.file("job.toml")) + " --quiet"),
                        {dir.file("job.toml"), "bogus_key"});
  EXPECT_FALSE(fs::exists(dir.file("reduce.h5")));
}

}  // namespace
}  // namespace genzoo::test
