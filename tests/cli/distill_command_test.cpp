// Integration tests for src/cli/distill_command.cpp: the real binary distills a zoo trained from
// tests/data/jobs/tiny.toml (priors from `genzoo reduce`) into distill.h5, which plain h5py reads; an
// interrupted run resumes from its unit shards, two ranks give the same students as one, and bad input
// is a one-line error naming the key.
#include <gtest/gtest.h>

#include <filesystem>

#include "distill/distill_file.h"
#include "helpers.h"

namespace genzoo::test {
namespace {

namespace fs = std::filesystem;

// tiny.toml with priors for linear_ae and a small [distill] section: 1 mixture x 2 sizes x 2 seeds.
std::string distill_job_text() {
  return read_text(tiny_job_path()) +
         "\n[reduce]\nprior_min_members = 4\nprior_rank = 2\n"
         "\n[distill]\nstudents = [\"linear_ae\", \"linear_ae:latent=8\"]\nmixtures = 1\nsizes = [10, 30]\nseeds = 2\n"
         "steps = 20\ntest_images = 50\ncurve_points = 2\n";
}

// A private copy of the trained zoo with its reduce.h5.
std::string reduced_zoo(const TempDir& dir) {
  fs::copy_file(reference_run("tiny-distill", distill_job_text()) + "/zoo.h5", dir.file("zoo.h5"));
  const CommandResult reduce = run_genzoo("reduce " + shell_quote(dir.file("zoo.h5")) + " --epochs 50 --families linear_ae --quiet");
  if (reduce.exit_code != 0) throw std::runtime_error("reduce failed: " + reduce.output);
  return dir.file("zoo.h5");
}

TEST(DistillCommand, WritesDistillFileThatPlainH5pyReads) {
  TempDir dir;
  const std::string zoo = reduced_zoo(dir);
  const CommandResult result = run_genzoo("distill " + shell_quote(zoo) + " --quiet");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* part : {"test loss (autoencoders: MSE; mlp: cross-entropy, nats), mean ± sd", "linear_ae:latent=8", "vi_root", "vs scratch"}) {
    EXPECT_NE(result.output.find(part), std::string::npos) << part << "\n" << result.output;
  }
  EXPECT_NE(result.output.find("wrote " + dir.file("distill.h5") + " (56 results)"), std::string::npos) << result.output;

  const std::string script =
      "import h5py, numpy as np\n"
      "d = h5py.File('" + dir.file("distill.h5") + "', 'r')\n"
      "r = h5py.File('" + dir.file("reduce.h5") + "', 'r')\n"
      "res = d['results']\n"
      "method = res['method'].asstr()[()]; student = res['student'].asstr()[()]\n"
      "assert len(method) == 2 * 2 * 2 * 7, len(method)\n"
      "assert sorted(set(method)) == ['hinton', 'isotropic', 'map', 'scratch', 'vi', 'vi_root', 'warm_start']\n"
      "assert list(res['curve_steps'][()]) == [0, 10, 20]\n"
      "assert np.isfinite(res['test_loss'][()]).all() and (res['status'].asstr()[()] == 'ok').all()\n"
      "iso = res['prior_variance'][()][method == 'isotropic']\n"
      "assert set(iso) <= {1e-4, 1e-3, 1e-2}, iso\n"
      "assert np.isnan(res['prior_variance'][()][method != 'isotropic']).all()\n"
      "prior = res['prior'].asstr()[()]\n"
      "for p in set(prior[(method == 'vi') | (method == 'map') | (method == 'vi_root')]):\n"
      "    assert p in r['priors/linear_ae'], p\n"
      "assert (prior[method == 'vi_root'] == 'root-g0').all()\n"
      "steps = res['prior_steps'].asstr()[()]\n"
      "narrow = (student == 'linear_ae:latent=8') & (method == 'vi')\n"
      "assert all(s.count('phi(code') == 8 for s in steps[narrow]), steps[narrow]\n"
      "s = d['students/linear_ae:latent=8']\n"
      "assert list(s['layout/name'].asstr()[()]) == ['encoder.weight', 'encoder.bias', 'decoder.weight', 'decoder.bias']\n"
      "assert s['weights'].shape[1] == 8 * 784 + 8 + 784 * 8 + 784\n"
      "rows = s['row'][()]\n"
      "assert (student[rows] == 'linear_ae:latent=8').all()\n"
      "vi = method[rows] == 'vi'\n"
      "assert (s['std'][()][vi] > 0).all() and (s['std'][()][~vi & (method[rows] != 'vi_root')] == 0).all()\n"
      "# the sampled test loss is an average over draws from q: a different number than at q's mean\n"
      "t, ts = res['test_loss'][()], res['test_loss_sampled'][()]\n"
      "assert (ts[method == 'vi'] != t[method == 'vi']).all() and (ts[method == 'map'] == t[method == 'map']).all()\n"
      "import sys; sys.path.insert(0, '" + source_dir() + "/analysis')\n"
      "import genzoo_distill as gd\n"
      "rows = gd.summary('" + dir.file("distill.h5") + "')\n"
      "assert len(rows) == 2 * 2 * 7 and all(r['count'] == 2 for r in rows), rows\n"
      "assert [r for r in rows if r['method'] == 'scratch'][0]['vs_scratch'] == 0.0\n"
      "t = gd.student_weights('" + dir.file("distill.h5") + "', int(rows_vi := np.flatnonzero(method == 'vi')[0]), std=True)\n"
      "assert (t['encoder.weight'] > 0).all() and t['encoder.weight'].shape in [(16, 784), (8, 784)]\n"
      "gd.plot_test_loss('" + dir.file("distill.h5") + "', '" + dir.file("loss.png") + "')\n"
      "print('ok')\n";
  write_text(dir.file("check.py"), script);
  const CommandResult check = run_command("/usr/bin/python3 " + shell_quote(dir.file("check.py")));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_GT(fs::file_size(dir.file("loss.png")), 1000u);
}

// Same students however the units are split: one rank, a resumed run, two ranks.
TEST(DistillCommand, ResumesFromUnitShardsAndTwoRanksGiveTheSameStudents) {
  TempDir dir;
  const std::string zoo = reduced_zoo(dir);
  ASSERT_EQ(run_genzoo("distill " + shell_quote(zoo) + " --quiet").exit_code, 0);
  const distill::DistillData first = distill::read_distill(dir.file("distill.h5"));
  ASSERT_EQ(count_files(dir.file("distill.h5.shards"), "unit-", ".h5"), 4);

  // An interrupted run: one unit's shard and the merged file are gone; only that unit trains again.
  fs::remove(dir.file("distill.h5.shards/unit-000002.h5"));
  fs::remove(dir.file("distill.h5"));
  const auto untouched = fs::last_write_time(dir.file("distill.h5.shards/unit-000001.h5"));
  const CommandResult resumed = run_genzoo("distill " + shell_quote(zoo));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("3 already in shards"), std::string::npos) << resumed.output;
  EXPECT_EQ(fs::last_write_time(dir.file("distill.h5.shards/unit-000001.h5")), untouched);

  const CommandResult mpi = run_genzoo_mpi(2, "distill " + shell_quote(zoo) + " --output " + shell_quote(dir.file("two.h5")) + " --quiet");
  ASSERT_EQ(mpi.exit_code, 0) << mpi.output;
  for (const std::string& other : {dir.file("distill.h5"), dir.file("two.h5")}) {
    const distill::DistillData again = distill::read_distill(other);
    ASSERT_EQ(again.results.size(), first.results.size()) << other;
    for (size_t i = 0; i < first.results.size(); ++i) {
      EXPECT_EQ(again.results[i].method, first.results[i].method) << other << " row " << i;
      EXPECT_EQ(again.results[i].weights, first.results[i].weights) << other << " row " << i;
      EXPECT_EQ(again.results[i].test_loss, first.results[i].test_loss) << other << " row " << i;
    }
  }
  // Another [distill] configuration does not mix with these shards.
  const CommandResult other = run_genzoo("distill " + shell_quote(zoo) + " --steps 5");
  expect_one_line_error(other, {"distill.h5.shards", "another [distill] configuration"});
}

// Seed 004's classifier case through the real pipeline: an mlp zoo [784, 32, 16, 10] trained, reduced to
// priors and distilled into its own structure and into [784, 8, 10] (φ, then ψ of the square layer);
// the test loss is the cross-entropy in nats and hinton learns from the nearest zoo classifier.
TEST(DistillCommand, MlpStudentsOfSeed004sNetworks) {
  TempDir dir;
  const std::string job =
      "name = \"mlp-distill\"\nseed = 5\n[data]\nnum_classes = 3\nclasses = [0, 1, 7]\nsamples_min = 200\nsamples_max = 400\n"
      "[[family]]\nname = \"mlp\"\nmodels = 8\nhidden = 32\nhidden2 = 16\nsteps = 100\nbatch_size = 32\nlr = 3e-3\n"
      "chunk_models = 8\n[reduce]\nprior_min_members = 4\nprior_rank = 2\n"
      "[distill]\nstudents = [\"mlp\", \"mlp:hidden=8,hidden2=0\"]\nmixtures = 1\nsizes = [20]\nseeds = 1\nsteps = 30\n"
      "methods = [\"scratch\", \"hinton\", \"vi\"]\nprior_scales = [1]\ntest_images = 50\ncurve_points = 2\nlr = 1e-2\n";
  fs::copy_file(reference_run("mlp-distill", job) + "/zoo.h5", dir.file("zoo.h5"));
  const CommandResult reduce = run_genzoo("reduce " + shell_quote(dir.file("zoo.h5")) + " --epochs 50 --quiet");
  ASSERT_EQ(reduce.exit_code, 0) << reduce.output;
  const CommandResult result = run_genzoo("distill " + shell_quote(dir.file("zoo.h5")) + " --quiet");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("mlp:hidden=8,hidden2=0"), std::string::npos) << result.output;
  const std::string script =
      "import h5py, numpy as np\n"
      "d = h5py.File('" + dir.file("distill.h5") + "', 'r')\n"
      "res = d['results']\n"
      "method = res['method'].asstr()[()]; student = res['student'].asstr()[()]\n"
      "assert len(method) == 2 * 3, method\n"
      "loss = res['test_loss'][()]\n"
      "assert np.isfinite(loss).all() and (res['status'].asstr()[()] == 'ok').all()\n"
      "# cross-entropy in nats: below the uniform guess over 10 classes, above 0\n"
      "assert (loss > 0).all() and (loss < np.log(10)).all(), loss\n"
      "curve = res['curve'][()]\n"
      "scratch = method == 'scratch'; own_vi = (method == 'vi') & (student == 'mlp')\n"
      "assert (curve[scratch, 1:].min(1) < curve[scratch, 0]).all(), curve\n"
      "# vi starts at the node prior's mean: a trained classifier, far ahead of a random start\n"
      "assert curve[own_vi, 0][0] < 0.5 * curve[scratch & (student == 'mlp'), 0][0], curve\n"
      "assert np.isnan(res['pixel_variance'][()]).all()\n"
      "steps = res['prior_steps'].asstr()[()]\n"
      "narrow = (student == 'mlp:hidden=8,hidden2=0') & (method == 'vi')\n"
      "assert steps[narrow][0].endswith('psi(3)') and steps[narrow][0].count('phi(2') == 24, steps[narrow]\n"
      "s = d['students/mlp:hidden=8,hidden2=0']\n"
      "assert list(s['layout/name'].asstr()[()]) == ['layer2.weight', 'layer2.bias', 'layer3.weight', 'layer3.bias']\n"
      "assert s['weights'].shape[1] == 8 * 784 + 8 + 10 * 8 + 10\n"
      "print('ok')\n";
  write_text(dir.file("check.py"), script);
  const CommandResult check = run_command("/usr/bin/python3 " + shell_quote(dir.file("check.py")));
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

// Seed 004's synthetic regression as a job: regressor teachers on a gaussian pool with a linear target,
// their root prior aligned by ψ (a layer removed) and φ (units removed), students under the thesis's
// three priors (vi_standard, vi_node_mean, vi) against scratch.
TEST(DistillCommand, RegressorStudentsOfSeed004sSyntheticCase) {
  TempDir dir;
  const std::string job =
      "name = \"regression-distill\"\nseed = 6\n[data]\nsource = \"gaussian\"\ntarget = \"linear\"\ntarget_noise = 0.1\n"
      "dimension = 6\nspectrum = [1, 1, 1, 1, 1, 1]\npool = 300\ninclusion = 0.8\ntest_pool = 60\n"
      "[[family]]\nname = \"regressor\"\nmodels = 8\nhidden = 16\nhidden2 = 8\ninit = \"group\"\ninit_groups = 1\nsteps = 300\n"
      "batch_size = 32\nlr = 1e-2\nchunk_models = 8\n[reduce]\nprior_min_members = 4\nprior_rank = 2\n"
      "prior_students = [\"regressor:hidden=8,hidden2=0\", \"regressor:hidden=8,hidden2=8\"]\n"
      "[distill]\nstudents = [\"regressor:hidden=8,hidden2=0\", \"regressor:hidden=8,hidden2=8\"]\nmixtures = 1\nsizes = [30]\n"
      "seeds = 1\nsteps = 60\nmethods = [\"scratch\", \"vi_standard\", \"vi_node_mean\", \"vi\"]\nprior_scales = [1]\n"
      "noise_variance = 0.01\ntest_images = 60\ncurve_points = 2\nlr = 1e-2\n";
  fs::copy_file(reference_run("regression-distill", job) + "/zoo.h5", dir.file("zoo.h5"));
  const CommandResult reduce = run_genzoo("reduce " + shell_quote(dir.file("zoo.h5")) + " --quiet");
  ASSERT_EQ(reduce.exit_code, 0) << reduce.output;
  const CommandResult result = run_genzoo("distill " + shell_quote(dir.file("zoo.h5")) + " --quiet");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string script =
      "import h5py, numpy as np\n"
      "d = h5py.File('" + dir.file("distill.h5") + "', 'r')\n"
      "res = d['results']\n"
      "method = res['method'].asstr()[()]; student = res['student'].asstr()[()]\n"
      "assert len(method) == 2 * 4, method\n"
      "loss = res['test_loss'][()]\n"
      "assert np.isfinite(loss).all() and (res['status'].asstr()[()] == 'ok').all()\n"
      "bayes = method != 'scratch'\n"
      "assert np.allclose(res['pixel_variance'][()][bayes], 0.01) and np.isnan(res['pixel_variance'][()][~bayes]).all()\n"
      "prior = res['prior'].asstr()[()]\n"
      "assert (prior[(method == 'vi') | (method == 'vi_node_mean')] == 'root-g0').all(), prior\n"
      "assert (prior[(method == 'scratch') | (method == 'vi_standard')] == '').all(), prior\n"
      "steps = res['prior_steps'].asstr()[()]\n"
      "psi = (student == 'regressor:hidden=8,hidden2=0') & (method == 'vi')\n"
      "phi = (student == 'regressor:hidden=8,hidden2=8') & (method == 'vi')\n"
      "assert steps[psi][0].endswith('psi(3)') and steps[psi][0].count('phi(2') == 8, steps[psi]\n"
      "assert steps[phi][0].count('phi(2') == 8 and 'psi' not in steps[phi][0], steps[phi]\n"
      "curve = res['curve'][()]\n"
      "# vi and vi_node_mean start at the aligned mean, vi_standard at scratch's init; each learns\n"
      "for s in set(student):\n"
      "    own = student == s\n"
      "    start = {m: curve[own & (method == m), 0][0] for m in ['scratch', 'vi_standard', 'vi_node_mean', 'vi']}\n"
      "    assert np.isclose(start['vi'], start['vi_node_mean']) and np.isclose(start['scratch'], start['vi_standard']), start\n"
      "    assert not np.isclose(start['vi'], start['scratch']), start\n"
      "    for m in ['scratch', 'vi_standard', 'vi_node_mean']:\n"
      "        assert curve[own & (method == m), -1][0] < 0.9 * start[m], (m, curve[own])\n"
      "s = d['students/regressor:hidden=8,hidden2=8']\n"
      "assert list(s['layout/name'].asstr()[()]) == ['layer2.weight', 'layer3.weight', 'layer4.weight']\n"
      "assert s['weights'].shape[1] == 8 * 6 + 8 * 8 + 8\n"
      "print('ok')\n";
  write_text(dir.file("check.py"), script);
  const CommandResult check = run_command("/usr/bin/python3 " + shell_quote(dir.file("check.py")));
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST(DistillCommand, BadInputIsAOneLineErrorNamingTheKey) {
  TempDir dir;
  const std::string zoo = reduced_zoo(dir);
  expect_one_line_error(run_genzoo("distill " + shell_quote(zoo) + " --methods vi bogus"), {"bogus", "vi_root"});
  expect_one_line_error(run_genzoo("distill " + shell_quote(zoo) + " --students linear_ae:latent=32"),
                        {"distill.students[0]", "latent"});
  expect_one_line_error(run_genzoo("distill " + shell_quote(zoo) + " --students conv_ae"),
                        {"student conv_ae (distill.students)", "no node prior of conv_ae"});
  expect_one_line_error(run_genzoo("distill " + shell_quote(zoo) + " --reduce " + shell_quote(dir.file("none.h5"))),
                        {"none.h5", "genzoo reduce"});
  // A mixture almost all of one class: n = 7000 needs more of it than the 6000 training images.
  write_text(dir.file("job.toml"), distill_job_text() + "proportions = [0.98, 0.01, 0.01]\n");
  expect_one_line_error(run_genzoo("distill " + shell_quote(zoo) + " --config " + shell_quote(dir.file("job.toml")) +
                                   " --sizes 7000 --output " + shell_quote(dir.file("big.h5"))),
                        {"distill.sizes", "n = 7000"});
}

}  // namespace
}  // namespace genzoo::test
