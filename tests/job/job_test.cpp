#include "job/job.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "common/error.h"
#include "helpers.h"

namespace genzoo::test {
namespace {

// The smallest valid job: every other key takes its default.
const char* const kMinimalJob = R"(
name = "tiny"

[[family]]
name = "linear_ae"
models = 4
)";

// Parses text (as "bad.toml") and returns the refusal, failing the test if there is none.
std::string refusal(const std::string& text) {
  try {
    parse_job(text, "bad.toml");
  } catch (const JobError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return "";
}

// Every refusal is one line that starts with the source.
void expect_refusal(const std::string& text, const std::vector<std::string>& parts) {
  const std::string message = refusal(text);
  EXPECT_EQ(message.rfind("bad.toml: ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << "missing '" << part << "' in: " << message;
}

std::string with_family(const std::string& family_keys) {
  return "name = \"x\"\n[[family]]\nname = \"linear_ae\"\nmodels = 2\n" + family_keys + "\n";
}

TEST(Job, ShippedJobsParse) {
  const struct {
    const char* file;
    const char* name;
    int64_t models;
  } shipped[] = {{"quickstart.toml", "quickstart", 112}, {"paper-probe.toml", "paper-probe", 640},
                 {"zoo-1k.toml", "zoo-1k", 1328}, {"distill.toml", "distill", 160},
                 {"seed004.toml", "seed004", 32}, {"seed000.toml", "seed000", 400},
                 {"seed004_regression.toml", "seed004_regression", 32}};
  for (const auto& job_file : shipped) {
    const std::string path = source_dir() + "/jobs/" + job_file.file;
    const Job job = load_job(path);
    EXPECT_EQ(job.name, job_file.name);
    EXPECT_EQ(job.source, path);
    EXPECT_EQ(job.text, read_text(path));
    EXPECT_EQ(job.total_models(), job_file.models) << job_file.file;
  }
}

TEST(Job, QuickstartLayout) {
  const Job job = load_job(source_dir() + "/jobs/quickstart.toml");
  ASSERT_EQ(job.families.size(), 4u);
  EXPECT_EQ(job.families[0].name, "linear_ae");
  EXPECT_EQ(job.families[0].total_models(job.probe.datasets()), 64);
  EXPECT_EQ(job.families[1].name, "conv_ae");
  EXPECT_EQ(job.families[1].total_models(job.probe.datasets()), 32);
  EXPECT_EQ(job.families[2].name, "vae");
  EXPECT_EQ(job.families[2].total_models(job.probe.datasets()), 8);
  EXPECT_EQ(job.families[3].name, "gan");
  EXPECT_EQ(job.families[3].total_models(job.probe.datasets()), 8);
  EXPECT_EQ(job.featurenet.epochs, 3);
}

TEST(Job, DefaultsApplied) {
  const Job job = parse_job(kMinimalJob, "<string>");
  EXPECT_EQ(job.name, "tiny");
  EXPECT_EQ(job.seed, 0u);
  EXPECT_EQ(job.source, "<string>");
  EXPECT_EQ(job.text, kMinimalJob);
  const DataConfig data;
  EXPECT_EQ(job.data.num_classes, data.num_classes);
  EXPECT_EQ(job.data.alpha, data.alpha);
  EXPECT_EQ(job.data.samples_min, data.samples_min);
  EXPECT_EQ(job.data.samples_max, data.samples_max);
  EXPECT_TRUE(job.data.classes.empty());
  const FeatureNetConfig featurenet;
  EXPECT_EQ(job.featurenet.epochs, featurenet.epochs);
  EXPECT_EQ(job.featurenet.lr, featurenet.lr);
  EXPECT_EQ(job.probe.pool, ProbeConfig().pool);
  EXPECT_EQ(job.probe.keep, ProbeConfig().keep);
  ASSERT_EQ(job.families.size(), 1u);
  const FamilyConfig family;
  const FamilyConfig& parsed = job.families[0];
  EXPECT_EQ(parsed.models, 4);
  EXPECT_EQ(parsed.latent, family.latent);
  EXPECT_EQ(parsed.steps, family.steps);
  EXPECT_EQ(parsed.lr, family.lr);
  EXPECT_EQ(parsed.init, family.init);
  EXPECT_EQ(parsed.init_groups, family.init_groups);
  EXPECT_EQ(parsed.regularizer, family.regularizer);
  EXPECT_EQ(parsed.chunk_models, family.chunk_models);
  EXPECT_EQ(job.total_models(), 4);
}

TEST(Job, ReadsEveryKind) {
  const Job job = parse_job(R"(
name = "all-kinds_1"
seed = 42
[data]
dir = "/data/fmnist"
num_classes = 2
classes = [3, 7]
alpha = 0.5
[probe]
proportions_a = [1, 0]
gaps = [0.1, 0.2, 0.4]
[[family]]
name = "conv_ae"
probe_models = 2
lr = 1
checkpoint_steps = [10, 20]
[[family]]
name = "conv_ae"
models = 1
latent = 8
)", "<string>");
  EXPECT_EQ(job.seed, 42u);
  EXPECT_EQ(job.data.dir, "/data/fmnist");
  EXPECT_EQ(job.data.classes, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(job.probe.proportions_a, (std::vector<double>{1.0, 0.0}));  // integers are fine as floats
  EXPECT_EQ(job.probe.datasets(), 4);
  EXPECT_EQ(job.families[0].lr, 1.0);
  EXPECT_EQ(job.families[0].checkpoint_steps, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(job.families[1].latent, 8);  // duplicate family names are allowed
  EXPECT_EQ(job.total_models(), 2 * 4 + 1);
}

TEST(Job, ReadsTheReduceSection) {
  const Job defaults = parse_job(kMinimalJob, "<string>");
  EXPECT_TRUE(defaults.reduce.features.empty());
  EXPECT_EQ(defaults.reduce.folds, ReduceConfig{}.folds);
  const Job job = parse_job(std::string(kMinimalJob) + R"(
[reduce]
features = ["svd", "latent_mean"]
folds = 3
epochs = 50
test = 0.3
)", "<string>");
  EXPECT_EQ(job.reduce.features, (std::vector<std::string>{"svd", "latent_mean"}));
  EXPECT_EQ(job.reduce.folds, 3);
  EXPECT_EQ(job.reduce.epochs, 50);
  EXPECT_EQ(job.reduce.test, 0.3);
  EXPECT_EQ(job.reduce.patience, ReduceConfig{}.patience);  // untouched keys keep their defaults
}

TEST(Job, RefusesBadReduceKeys) {
  expect_refusal(std::string(kMinimalJob) + "[reduce]\nfeatures = \"svd\"\n",
                 {"key 'reduce.features': expected an array of strings (each a string matching [A-Za-z0-9_-]+), got \"svd\""});
  expect_refusal(std::string(kMinimalJob) + "[reduce]\nfeatures = [\"svd\", 3]\n",
                 {"key 'reduce.features[1]': expected a string matching [A-Za-z0-9_-]+, got 3 (integer)"});
  expect_refusal(std::string(kMinimalJob) + "[reduce]\nfolds = 1\n", {"key 'reduce.folds': expected an integer in [2, 100], got 1"});
  expect_refusal(std::string(kMinimalJob) + "[reduce]\nepoch = 10\n", {"unknown key 'reduce.epoch'", "epochs"});
}

// The priors' keys: read, and bad settings refused in one line naming the key.
TEST(Job, ReadsAndChecksThePriorKeys) {
  const Job job = parse_job(std::string(kMinimalJob) + R"(
[reduce]
prior_rank = 3
prior_min_members = 5
prior_order = "obd"
prior_students = ["linear_ae:latent=8", "linear_ae:latent=4"]
prior_teachers = [0, 2]
)", "<string>");
  EXPECT_EQ(job.reduce.prior_rank, 3);
  EXPECT_EQ(job.reduce.prior_order, "obd");
  EXPECT_EQ(job.reduce.prior_teachers, (std::vector<int64_t>{0, 2}));
  const StudentSpec spec = parse_student_spec("conv_ae:latent=8,channels=4");
  EXPECT_EQ(spec.family, "conv_ae");
  EXPECT_EQ(spec.name, "latent=8,channels=4");
  FamilyConfig teacher;
  teacher.name = "conv_ae";
  const FamilyConfig student = student_config(teacher, spec);
  EXPECT_EQ(student.latent, 8);
  EXPECT_EQ(student.channels, 4);

  const std::string reduce = std::string(kMinimalJob) + "[reduce]\n";
  expect_refusal(reduce + "prior_rank = 16\nprior_min_members = 16\n",
                 {"key 'reduce.prior_rank': expected below reduce.prior_min_members = 16, got 16"});
  expect_refusal(reduce + "prior_students = [\"linear_ae:latent=32\"]\n",
                 {"key 'reduce.prior_students[0]'", "wider than its teacher (latent 32 > 16)"});
  expect_refusal(reduce + "prior_students = [\"vae:hidden=8\"]\n", {"key 'reduce.prior_students[0]'", "no family vae"});
  expect_refusal(reduce + "prior_students = [\"linear_ae:lr=8\"]\n", {"key 'reduce.prior_students[0]'", "cannot change 'lr'"});
  expect_refusal(reduce + "prior_students = [\"linear_ae\"]\n", {"key 'reduce.prior_students[0]'", "family:key=value"});
  expect_refusal(reduce + "prior_order = \"fisher\"\n", {"key 'reduce.prior_order'", "density_ratio"});
  expect_refusal(reduce + "prior_shrinkage = 1.5\n", {"key 'reduce.prior_shrinkage'"});
}

// The gaussian source: its keys, one derived class, the families' input dimension, and what it refuses.
TEST(Job, ReadsAndChecksTheGaussianSource) {
  const std::string gaussian = R"(
name = "g"
[data]
source = "gaussian"
dimension = 6
pool = 300
inclusion = 0.2
spectrum = [3, 2, 1, 1, 0.5, 0.1]
[[family]]
name = "linear_ae"
models = 4
latent = 2
)";
  const Job job = parse_job(gaussian, "<string>");
  EXPECT_TRUE(job.data.gaussian());
  EXPECT_EQ(job.data.num_classes, 1);
  EXPECT_EQ(job.data.classes, (std::vector<int64_t>{0}));
  EXPECT_EQ(job.families[0].input_dim, 6);
  EXPECT_EQ(job.data.gaussian_spectrum()[4], 0.5);
  EXPECT_EQ(parse_job(kMinimalJob, "<string>").families[0].input_dim, 784);
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string text = gaussian;
    return text.replace(text.find(from), from.size(), to);
  };
  expect_refusal(with("spectrum = [3, 2, 1, 1, 0.5, 0.1]", "spectrum = [3, 2]"),
                 {"key 'data.spectrum': expected data.dimension = 6 entries, got 2"});
  expect_refusal(with("name = \"linear_ae\"", "name = \"conv_ae\""), {"key 'family[0].name'", "linear_ae only"});
  expect_refusal(with("latent = 2", "latent = 2\ntriplets = 1"), {"key 'family[0].triplets'", "no classes"});
  expect_refusal(with("source = \"gaussian\"", "source = \"normal\""), {"key 'data.source'", "\"images\", \"gaussian\""});
  expect_refusal(with("inclusion = 0.2", "inclusion = 0"), {"key 'data.inclusion'"});
  // A regression target: regressor families only, and only on the gaussian source.
  const std::string target = "inclusion = 0.2\ntarget = \"linear\"\ntarget_noise = 0.5";
  std::string regression = with("inclusion = 0.2", target);
  regression.replace(regression.find("name = \"linear_ae\""), 18, "name = \"regressor\"");
  const Job r = parse_job(regression, "<string>");
  EXPECT_TRUE(r.data.regression());
  EXPECT_EQ(r.data.target_noise, 0.5);
  EXPECT_EQ(r.families[0].input_dim, 6);
  expect_refusal(with("name = \"linear_ae\"", "name = \"regressor\""), {"key 'family[0].name'", "data.target = \"linear\""});
  expect_refusal(with("inclusion = 0.2", target), {"key 'family[0].name'", "regressor only, got linear_ae"});
  expect_refusal(std::string(kMinimalJob) + "[data]\ntarget = \"linear\"\n", {"key 'data.target'", "gaussian"});
  expect_refusal(with("inclusion = 0.2", "inclusion = 0.2\ntarget = \"quadratic\""), {"key 'data.target'"});
}

// The information estimators: every one by default, a subset on request, unknown names refused.
TEST(Job, ReadsAndChecksTheInformationKeys) {
  EXPECT_EQ(parse_job(kMinimalJob, "<string>").reduce.mi_estimators, information_estimators());
  const Job job = parse_job(std::string(kMinimalJob) + "[reduce]\nmi_estimators = [\"ksg\", \"flow\"]\nmi_steps = 20\n", "<string>");
  EXPECT_EQ(job.reduce.mi_estimators, (std::vector<std::string>{"ksg", "flow"}));
  EXPECT_EQ(job.reduce.mi_steps, 20);
  expect_refusal(std::string(kMinimalJob) + "[reduce]\nmi_estimators = [\"mine\"]\n",
                 {"key 'reduce.mi_estimators[0]'", "ksg_autoencoder"});
}

// mlp's structure keys: hidden2 = 0 is a student without the second hidden layer (seed 004's ψ), and a
// student may not be wider than its teacher in either layer.
TEST(Job, ReadsMlpStructureAndItsStudents) {
  const std::string mlp = "name = \"m\"\n[[family]]\nname = \"mlp\"\nmodels = 4\nhidden = 64\nhidden2 = 16\n";
  const Job job = parse_job(mlp + "[reduce]\nprior_students = [\"mlp:hidden=16,hidden2=0\"]\n[distill]\nstudents = "
                                  "[\"mlp\", \"mlp:hidden=8\"]\nhinton_temperature = 4\n",
                            "<string>");
  EXPECT_EQ(job.families[0].hidden2, 16);
  EXPECT_EQ(job.distill.hinton_temperature, 4.0);
  const FamilyConfig student = student_config(job.families[0], parse_student_spec("mlp:hidden=16,hidden2=0"));
  EXPECT_EQ(student.hidden, 16);
  EXPECT_EQ(student.hidden2, 0);
  EXPECT_EQ(structure_key(student, "hidden2"), 0);
  EXPECT_THROW(structure_key(student, "lr"), JobError);
  expect_refusal(mlp + "[reduce]\nprior_students = [\"mlp:hidden2=32\"]\n",
                 {"key 'reduce.prior_students[0]'", "wider than its teacher (hidden2 32 > 16)"});
  expect_refusal(mlp + "[reduce]\nprior_students = [\"mlp:hidden=0\"]\n", {"key 'reduce.prior_students[0]'", "positive integer"});
  expect_refusal(mlp + "[distill]\nstudents = [\"vae\"]\n", {"key 'distill.students[0]'", "linear_ae, conv_ae, mlp and regressor"});
  expect_refusal(mlp + "[distill]\nhinton_temperature = 0\n", {"key 'distill.hinton_temperature'"});
  expect_refusal(with_family("hidden2 = -1"), {"key 'family[0].hidden2'"});
}

// A vae whose generated codes come from its fitted latent density cannot be aligned to a narrower code:
// refused when the job is read, not after training.
TEST(Job, RefusesNarrowingTheCodeOfAMixtureVae) {
  const std::string vae = "name = \"v\"\n[[family]]\nname = \"vae\"\nmodels = 4\nlatent = 8\nlatent_density = \"mixture\"\n";
  expect_refusal(vae + "[reduce]\nprior_students = [\"vae:latent=4\"]\n",
                 {"key 'reduce.prior_students[0]'", "latent_density = \"mixture\" keeps its latent width"});
  EXPECT_NO_THROW(parse_job(vae + "[reduce]\nprior_students = [\"vae:hidden=64\"]\n", "<string>"));
}

TEST(Job, RefusesUnknownTopLevelKey) {
  expect_refusal(std::string("nmae = \"x\"\n") + kMinimalJob,
                 {"unknown key 'nmae'", "(allowed: name, seed, data, featurenet, probe, reduce, distill, family)"});
}

TEST(Job, RefusesUnknownSectionKey) {
  expect_refusal(std::string(kMinimalJob) + "[data]\naplha = 2\n",
                 {"bad.toml: unknown key 'data.aplha' (allowed: source, dir, num_classes, classes, alpha, samples_min, samples_max, dimension, mean, spectrum, pool, inclusion, test_pool, target, target_noise)"});
  expect_refusal(std::string(kMinimalJob) + "[featurenet]\nepoch = 2\n", {"unknown key 'featurenet.epoch'", "epochs"});
  expect_refusal(std::string(kMinimalJob) + "[extra]\nx = 1\n", {"unknown key 'extra'"});
}

TEST(Job, RefusesUnknownFamilyKey) {
  expect_refusal(std::string(kMinimalJob) + "[[family]]\nname = \"conv_ae\"\nmodels = 1\nlaten = 8\n",
                 {"unknown key 'family[1].laten'", "latent", "checkpoint_steps"});
}

TEST(Job, RefusesWrongType) {
  expect_refusal(std::string(kMinimalJob) + "[featurenet]\nepochs = \"two\"\n",
                 {"key 'featurenet.epochs': expected an integer in [1, 50], got \"two\" (string)"});
  expect_refusal(std::string(kMinimalJob) + "[featurenet]\nepochs = 2.5\n",
                 {"key 'featurenet.epochs'", "got 2.5 (floating-point)"});
  expect_refusal(with_family("latent = true"), {"key 'family[0].latent'", "got true (boolean)"});
  expect_refusal(std::string(kMinimalJob) + "[data]\nclasses = 3\n",
                 {"key 'data.classes': expected an array of integers (each an integer in [0, 9]), got 3"});
  expect_refusal(std::string(kMinimalJob) + "[probe]\ngaps = [0.1, \"x\"]\n",
                 {"key 'probe.gaps[1]': expected a float in (0, 1)"});
  expect_refusal("data = 5\n" + std::string(kMinimalJob), {"key 'data': expected a table ([data]), got 5"});
  expect_refusal("name = \"x\"\n[family]\nname = \"linear_ae\"\n",
                 {"key 'family': expected an array of tables ([[family]])"});
}

TEST(Job, RefusesOutOfRange) {
  const std::string two_families = std::string(kMinimalJob) + "[[family]]\nname = \"conv_ae\"\nmodels = 1\nlr = 5\n";
  EXPECT_EQ(refusal(two_families), "bad.toml: key 'family[1].lr': expected a float in (0, 1], got 5");
  expect_refusal(with_family("lr = 0.0"), {"key 'family[0].lr': expected a float in (0, 1], got 0.0"});
  expect_refusal(with_family("latent = 0"), {"key 'family[0].latent': expected an integer in [1, 512], got 0"});
  expect_refusal(with_family("lr_spread = -1"), {"key 'family[0].lr_spread': expected a float in [0, 5], got -1"});
  expect_refusal(with_family("noise_level = nan"), {"key 'family[0].noise_level'", "got nan"});
  expect_refusal(with_family("latent_shrinkage = 1.5"),
                 {"key 'family[0].latent_shrinkage': expected a float in [0, 1], got 1.5"});
  expect_refusal(with_family("d_lr_scale = 0.0"), {"key 'family[0].d_lr_scale': expected a float in [0.1, 10], got 0.0"});
  expect_refusal(with_family("d_channels = 257"), {"key 'family[0].d_channels': expected an integer in [0, 256], got 257"});
  expect_refusal(with_family("d_norm = \"batch\""), {"key 'family[0].d_norm'", "\"none\", \"spectral\""});
  expect_refusal(with_family("decoder = \"deconv\""),
                 {"key 'family[0].decoder': expected one of \"mlp\", \"conv\", got \"deconv\""});
  expect_refusal(with_family("d_minibatch = \"mean\""),
                 {"key 'family[0].d_minibatch': expected one of \"none\", \"stddev\", got \"mean\""});
  expect_refusal(std::string(kMinimalJob) + "[data]\nnum_classes = 11\n",
                 {"key 'data.num_classes': expected an integer in [2, 10], got 11"});
  expect_refusal(std::string(kMinimalJob) + "[data]\nsamples_max = 6001\n",
                 {"key 'data.samples_max': expected an integer in [1, 6000], got 6001"});
  expect_refusal(std::string(kMinimalJob) + "[data]\nclasses = [0, 12, 3]\n",
                 {"key 'data.classes[1]': expected an integer in [0, 9], got 12"});
  expect_refusal("name = \"x\"\nseed = -1\n[[family]]\nname = \"gan\"\nmodels = 1\n",
                 {"key 'seed': expected an integer >= 0, got -1"});
  expect_refusal(with_family("init = \"shared\""),
                 {"key 'family[0].init': expected one of \"group\", \"model\", got \"shared\""});
  expect_refusal("name = \"x\"\n[[family]]\nname = \"rbm\"\nmodels = 1\n",
                 {"key 'family[0].name': expected one of \"linear_ae\", \"conv_ae\", \"vae\", \"gan\", \"mlp\", \"regressor\", got \"rbm\""});
  expect_refusal("name = \"my job\"\n[[family]]\nname = \"gan\"\nmodels = 1\n",
                 {"key 'name': expected a string matching [A-Za-z0-9_-]+, got \"my job\""});
}

TEST(Job, RefusesMissingRequiredKeys) {
  expect_refusal("seed = 1\n[[family]]\nname = \"vae\"\nmodels = 1\n", {"missing required key 'name'"});
  expect_refusal("name = \"x\"\n", {"missing required key 'family'"});
  expect_refusal("name = \"x\"\nfamily = []\n", {"key 'family': expected at least one [[family]] table"});
  expect_refusal(std::string(kMinimalJob) + "[[family]]\nmodels = 3\n", {"missing required key 'family[1].name'"});
}

TEST(Job, RefusesBadCheckpointSteps) {
  expect_refusal(with_family("checkpoint_steps = [100, 50]"),
                 {"key 'family[0].checkpoint_steps[1]': expected ascending steps, got 50 after 100"});
  expect_refusal(with_family("checkpoint_steps = [100, 100]"), {"checkpoint_steps[1]", "ascending"});
  expect_refusal(with_family("steps = 200\ncheckpoint_steps = [100, 300]"),
                 {"key 'family[0].checkpoint_steps[1]': expected at most family[0].steps = 200, got 300"});
  expect_refusal(with_family("checkpoint_steps = [0]"), {"checkpoint_steps[0]", "[1, 10000000]"});
}

TEST(Job, RefusesBadProportions) {
  expect_refusal(std::string(kMinimalJob) + "[probe]\nproportions_a = [0.5, 0.3, 0.1]\n",
                 {"key 'probe.proportions_a': expected proportions summing to 1 (within 1e-6), got sum 0.9"});
  expect_refusal(std::string(kMinimalJob) + "[probe]\nproportions_b = [0.5, 0.5]\n",
                 {"key 'probe.proportions_b': expected data.num_classes = 3 proportions, got 2"});
  expect_refusal(std::string(kMinimalJob) + "[probe]\nproportions_b = [0.5, 0.6, -0.1]\n",
                 {"key 'probe.proportions_b[2]': expected a float in [0, 1], got -0.1"});
  expect_refusal(std::string(kMinimalJob) + "[probe]\nproportions_a = [0.5, 0.25, 0.25]\nproportions_b = [0.5, 0.25, 0.25]\n",
                 {"key 'probe.proportions_b': equals proportions_a"});
}

TEST(Job, RefusesInconsistentKeys) {
  expect_refusal(std::string(kMinimalJob) + "[data]\nsamples_min = 3000\nsamples_max = 2000\n",
                 {"key 'data.samples_min': expected at most data.samples_max = 2000, got 3000"});
  expect_refusal(std::string(kMinimalJob) + "[data]\nclasses = [1, 2]\n",
                 {"key 'data.classes': expected data.num_classes = 3 labels, got 2"});
  expect_refusal(std::string(kMinimalJob) + "[data]\nclasses = [1, 2, 1]\n", {"key 'data.classes': label 1 appears twice"});
  expect_refusal(with_family("decoder = \"conv\"\ndecoder_layers = 2"),
                 {"key 'family[0].decoder_layers': a conv decoder has no hidden-layer count; expected 1, got 2"});
  expect_refusal(with_family("noise = \"mask\"\nnoise_level = 2"),
                 {"key 'family[0].noise_level': expected a masking probability in [0, 1]"});
  expect_refusal("name = \"x\"\n[[family]]\nname = \"vae\"\n", {"key 'family[0]': expected at least one model"});
  expect_refusal("name = \"x\"\n[data]\nsamples_min = 2\n[[family]]\nname = \"vae\"\nchains = 1\n",
                 {"key 'family[0].chains': nested chains need data.samples_min >= 3, got 2"});
  expect_refusal(with_family("probe_models = 3"),
                 {"key 'probe.proportions_b': family[0] has probe_models but dataset B is undefined"});
  expect_refusal(with_family("probe_models = 3") + "[probe]\npool = 6000\nproportions_b = [1, 0, 0]\n",
                 {"key 'probe.pool': datasets A and B need 8000 images of class slot 0, more than the 6000 per class"});
}

TEST(Job, SyntaxErrorNamesLineAndColumn) {
  const std::string message = refusal("name = \"x\"\nseed = = 3\n");
  EXPECT_EQ(message.rfind("bad.toml: line 2, column ", 0), 0u) << message;
  EXPECT_NE(message.find("TOML syntax error"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(Job, LoadJobNamesMissingFile) {
  TempDir dir;
  try {
    load_job(dir.file("absent.toml"));
    FAIL() << "no error";
  } catch (const JobError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("absent.toml")), std::string::npos) << e.what();
  }
  write_text(dir.file("bad.toml"), "name = \"x\"\n[[family]]\nname = \"gan\"\nmodels = 1\nsteps = 0\n");
  try {
    load_job(dir.file("bad.toml"));
    FAIL() << "no error";
  } catch (const JobError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("bad.toml") + ": key 'family[0].steps': expected an integer in [1, 10000000], got 0");
  }
}

TEST(Job, ReferenceListsEveryKey) {
  const std::string reference = job_reference_markdown();
  const std::vector<std::string> sections = {"## Top level", "## [data]", "## [featurenet]", "## [probe]",
                                             "## [[family]]"};
  for (const auto& section : sections) EXPECT_NE(reference.find(section), std::string::npos) << section;
  const std::vector<std::string> keys = {
      "name", "seed", "dir", "num_classes", "classes", "alpha", "samples_min", "samples_max", "epochs",
      "batch_size", "lr", "embedding", "proportions_a", "proportions_b", "gaps", "pool", "keep", "models",
      "triplets", "chains", "probe_models", "latent", "channels", "steps", "lr_spread", "chunk_models", "init",
      "init_groups", "regularizer", "reg_weight", "noise", "noise_level", "checkpoint_steps"};
  for (const auto& key : keys) EXPECT_NE(reference.find("| `" + key + "` |"), std::string::npos) << key;
  EXPECT_NE(reference.find("| `lr` | float | `0.001` | (0, 1] |"), std::string::npos);
  EXPECT_NE(reference.find("| `name` | string | required | linear_ae, conv_ae, vae, gan, mlp, regressor |"), std::string::npos);
  EXPECT_NE(reference.find("`checkpoint_steps` ascend strictly"), std::string::npos);
}

TEST(Job, ProbeDatasetsFollowTheGaps) {
  ProbeConfig probe;
  probe.gaps = {0.1, 0.3};
  const auto datasets = probe_dataset_proportions(probe, 3);
  ASSERT_EQ(datasets.size(), 3u);
  for (size_t d = 1; d < datasets.size(); ++d) {
    double distance = 0.0;
    for (int k = 0; k < 3; ++k) distance += 0.5 * std::fabs(datasets[d][k] - datasets[0][k]);
    EXPECT_NEAR(distance, probe.gaps[d - 1], 1e-12);
    EXPECT_GT(datasets[d][0], datasets[0][0]);  // default direction: from the last class to the first
    EXPECT_NEAR(datasets[d][1], datasets[0][1], 1e-12);
  }
  EXPECT_EQ(probe_dataset_gap(probe, 0), 0.0);
  EXPECT_EQ(probe_dataset_gap(probe, 2), 0.3);

  probe.proportions_b = {0.5, 0.3, 0.2};  // with gaps: only the direction
  const auto toward_b = probe_dataset_proportions(probe, 3);
  EXPECT_NEAR(toward_b[2][0] - toward_b[0][0], 0.3, 1e-12);
  EXPECT_NEAR(toward_b[2][2] - toward_b[0][2], -0.3 * 0.8, 1e-12);

  ProbeConfig plain;
  plain.proportions_b = {0.5, 0.3, 0.2};
  EXPECT_EQ(probe_dataset_proportions(plain, 3)[1], plain.proportions_b);
  EXPECT_NEAR(probe_dataset_gap(plain, 1), 1.0 / 6.0, 1e-12);
  EXPECT_EQ(probe_dataset_counts(plain, 3)[1], (std::vector<int64_t>{1500, 900, 600}));
}

TEST(Job, ApportionSumsToTotal) {
  EXPECT_EQ(apportion(10, {1.0 / 3, 1.0 / 3, 1.0 / 3}), (std::vector<int64_t>{4, 3, 3}));
  EXPECT_EQ(apportion(3000, {0.5, 0.3, 0.2}), (std::vector<int64_t>{1500, 900, 600}));
  const auto parts = apportion(1001, {0.123, 0.456, 0.421});
  EXPECT_EQ(std::accumulate(parts.begin(), parts.end(), int64_t{0}), 1001);
}

// The README points users at jobs/REFERENCE.md; it must be what the schema generates today.
TEST(Job, ShippedReferenceMatchesSchema) {
  EXPECT_EQ(read_text(source_dir() + "/jobs/REFERENCE.md"), job_reference_markdown())
      << "regenerate with: build/genzoo job-reference > jobs/REFERENCE.md";
}

}  // namespace
}  // namespace genzoo::test
