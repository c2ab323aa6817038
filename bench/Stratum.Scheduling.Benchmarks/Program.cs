using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Scheduling;

// One scheduling pass (pure function: snapshot in, decisions out) over seeded synthetic clusters of
// 8-GPU nodes, each policy against baselines measured in the same run: the same policy with an empty
// queue (the fixed cost of reading the cluster), and the first-version 'priority' policy where it
// finishes in reasonable time. Writes bench/results/scheduling-pass.json.
// Usage: dotnet run -c Release --project bench/Stratum.Scheduling.Benchmarks -- [--repeats N] [--quick] [--nodes N] [--policies a,b] [--digest]
// (--nodes and --policies narrow the run for profiling; they do not write the results file. --digest prints a
// fingerprint of every decision on a few snapshots, with and without the pass's shortcuts, and measures nothing.)
var repeats = Option("--repeats", 7);
const int WarmUpPasses = 40;
const int WarmUpSeconds = 10;
var quick = args.Contains("--quick");
var onlyNodes = Option("--nodes", 0);
var onlyPolicies = Array.IndexOf(args, "--policies") is var p && p >= 0 && p + 1 < args.Length ? args[p + 1].Split(',') : null;
var now = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
var cases = quick
    ? new (int Nodes, int Queued, int Running)[] { (1024, 10_000, 4000), (10_000, 100_000, 30_000) }
    : [(64, 1000, 200), (1024, 10_000, 4000), (10_000, 100_000, 30_000)];
if (args.Contains("--digest"))
{
    return Digests.Print(now);
}

var rows = new List<object>();
foreach (var (nodes, queued, running) in cases.Where(c => onlyNodes == 0 || c.Nodes == onlyNodes))
{
    var full = Synthetic.Snapshot(now, nodes, queued, running, seed: nodes);
    var empty = full with { Queued = [] };
    foreach (var name in onlyPolicies ?? [SchedulingPolicies.Default, PlanningPolicy.BackfillName, PlanningPolicy.FairShareName, PriorityPolicy.PolicyName])
    {
        // The first-version policy scans every node for every queued job: minutes at 10,000 nodes.
        if (name == PriorityPolicy.PolicyName && nodes > 1024)
        {
            continue;
        }

        var policy = SchedulingPolicies.Create(name);
        var passes = name == PriorityPolicy.PolicyName ? Math.Min(repeats, 3) : repeats;
        var (gen0, gen2) = (GC.CollectionCount(0), GC.CollectionCount(2));
        var (times, cpuTimes) = MeasureBoth(policy, full, passes);
        (gen0, gen2) = (GC.CollectionCount(0) - gen0, GC.CollectionCount(2) - gen2);

        // Allocation of a pass like those timed (the same snapshot again), before the empty-queue baseline
        // replaces what the policy kept.
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var decisions = policy.Schedule(full);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var baseline = Measure(policy, empty, repeats);

        // A policy keeps what unchanged inputs give from one pass to the next (a live server passes again and
        // again over mostly the same job objects); a fresh policy each pass shows what a pass costs without it.
        var (coldTimes, coldCpuTimes) = MeasureCold(name, full, passes);
        var estimated = decisions.Pending.Count(p => p.EstimatedStart is not null);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-10} {nodes,6} nodes {queued,7} queued {full.Running.Count,6} running: median {times:F2} ms, cpu {cpuTimes:F2} ms (fresh policy {coldTimes:F2} ms, cpu {coldCpuTimes:F2} ms; empty queue {baseline:F2} ms), {decisions.Starts.Count} starts, {decisions.Preemptions.Count} preemptions, {estimated} estimates, {allocated / 1048576.0:F0} MiB allocated, {gen0} gen0 / {gen2} gen2 collections in {passes + 1} passes"));
        rows.Add(new
        {
            policy = name,
            nodes,
            gpusPerNode = 8,
            queued,
            running = full.Running.Count,
            medianPassMilliseconds = Math.Round(times, 2),
            medianPassCpuMilliseconds = Math.Round(cpuTimes, 2),
            freshPolicyMedianPassMilliseconds = Math.Round(coldTimes, 2),
            freshPolicyMedianPassCpuMilliseconds = Math.Round(coldCpuTimes, 2),
            emptyQueueBaselineMilliseconds = Math.Round(baseline, 2),
            allocatedMegabytesPerPass = Math.Round(allocated / 1048576.0, 1),
            starts = decisions.Starts.Count,
            preemptions = decisions.Preemptions.Count,
            pendingWithEstimate = estimated,
        });
    }
}

var peak = Process.GetCurrentProcess().PeakWorkingSet64;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak working set {peak / 1048576.0:F0} MiB"));
if (onlyNodes != 0 || onlyPolicies is not null)
{
    return 0;
}

var root = RepositoryRoot();
var results = Path.Combine(root, "bench", "results");
Directory.CreateDirectory(results);
var json = JsonSerializer.Serialize(new
{
    benchmark = "one scheduling pass (ExplainPending on) per policy, passing again over the same snapshot (what the policy kept from the pass before reused), and with a fresh policy per pass (nothing kept); baselines: the same policy with an empty queue, and the first-version 'priority' policy up to 1,024 nodes",
    loadAverageAtEnd = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
    command = $"dotnet run -c Release --project bench/Stratum.Scheduling.Benchmarks -- --repeats {repeats}{(quick ? " --quick" : "")}",
    machine = new { cores = Environment.ProcessorCount, runtime = Environment.Version.ToString(), os = System.Runtime.InteropServices.RuntimeInformation.OSDescription },
    peakWorkingSetMegabytes = Math.Round(peak / 1048576.0),
    cases = rows,
}, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true });
File.WriteAllText(Path.Combine(results, "scheduling-pass.json"), json + "\n");
return 0;

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}

static double Measure(ISchedulingPolicy policy, ClusterSnapshot snapshot, int repeats) => MeasureBoth(policy, snapshot, repeats).Wall;

// Wall time per pass, and the process's CPU time per pass: on a shared machine the second is what the
// pass itself cost (a loaded box stretches wall time, not CPU time), so both are reported.
static (double Wall, double Cpu) MeasureBoth(ISchedulingPolicy policy, ClusterSnapshot snapshot, int repeats)
{
    // Warm-up passes first, as many as it takes the runtime to recompile the pass fully optimised: it does so
    // for a method after 30 calls, and a pass's outer methods run once per pass, so a case measured after one
    // warm-up ran half-optimised code (the 10,000-node case measured 40-70 ms alone and 21 ms after the smaller
    // cases had warmed the same methods up). A server passes every few seconds for days: warm passes are its.
    var warmUntil = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * WarmUpSeconds);
    for (var warm = 0; warm < WarmUpPasses && (warm < 2 || Stopwatch.GetTimestamp() < warmUntil); warm++)
    {
        policy.Schedule(snapshot);
    }

    return TimePasses(() => policy, snapshot, repeats);
}

// The same with a new policy for every pass, so nothing is kept from the pass before (the first pass a server makes).
static (double Wall, double Cpu) MeasureCold(string name, ClusterSnapshot snapshot, int repeats) =>
    TimePasses(() => SchedulingPolicies.Create(name), snapshot, repeats);

// Median wall and process CPU milliseconds of one pass by the policy policyForPass gives (made before the clock starts).
static (double Wall, double Cpu) TimePasses(Func<ISchedulingPolicy> policyForPass, ClusterSnapshot snapshot, int repeats)
{
    var walls = new List<double>();
    var cpus = new List<double>();
    var process = Process.GetCurrentProcess();
    for (var i = 0; i < repeats; i++)
    {
        var policy = policyForPass();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        policy.Schedule(snapshot);
        walls.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        process.Refresh();
        cpus.Add((process.TotalProcessorTime - cpuBefore).TotalMilliseconds);
    }

    return (Median(walls), Median(cpus));
}

static double Median(List<double> samples)
{
    samples.Sort();
    return samples.Count % 2 == 1 ? samples[samples.Count / 2] : (samples[(samples.Count / 2) - 1] + samples[samples.Count / 2]) / 2;
}

static string RepositoryRoot()
{
    var directory = new DirectoryInfo(AppContext.BaseDirectory);
    while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
    {
        directory = directory.Parent;
    }

    return directory?.FullName ?? Directory.GetCurrentDirectory();
}

/// <summary>Seeded synthetic clusters: 8-GPU nodes, 16 to a rack; 1-8 GPU jobs and multi-node gangs; some preemptible; eight projects with quotas in one cohort; known max runtimes.</summary>
internal static class Synthetic
{
    public static ClusterSnapshot Snapshot(DateTimeOffset now, int nodeCount, int queuedCount, int runningCount, int seed)
    {
        var random = new Random(seed);
        var nodes = Enumerable.Range(0, nodeCount).Select(i => new Node
        {
            Name = $"n{i:D5}",
            Pool = "gpu",
            Capacity = ResourceVector.Of(128, 1L << 40, "nvidia-h100", 8),
            Allocatable = ResourceVector.Of(120, 1000L << 30, "nvidia-h100", 8),
            Labels = new Dictionary<string, string> { ["rack"] = $"r{i / 16}" },
            Accelerators = Enumerable.Range(0, 8).Select(g => new AcceleratorDevice(g, "nvidia-h100", "NVIDIA H100 80GB HBM3", 80L << 30)).ToList(),
        }).ToList();
        var projects = Enumerable.Range(0, 8).Select(i => new Project
        {
            Name = $"p{i}",
            Quota = new Quota { Accelerators = nodeCount * 8 / 6, Cohort = "all" },
        }).ToList();
        long id = 0;
        Job MakeJob(DateTimeOffset submitted)
        {
            var gpus = new[] { 1, 1, 2, 4, 8, 8 }[random.Next(6)];
            var replicas = gpus == 8 && random.Next(4) == 0 ? random.Next(2, 5) : 1;
            return new Job
            {
                Id = ++id,
                Owner = "bench",
                State = JobState.Pending,
                SubmittedAt = submitted.AddSeconds(id % 3600),
                Spec = new JobSpec
                {
                    Name = $"job{id}",
                    Project = $"p{random.Next(8)}",
                    Command = ["train"],
                    Resources = ResourceVector.Of(gpus * 8, gpus * (64L << 30), "nvidia-h100", gpus),
                    Replicas = replicas,
                    Priority = random.Next(3) * 10,
                    Preemptible = random.Next(3) == 0,
                    MaxRuntime = TimeSpan.FromMinutes(10 * random.Next(1, 144)),
                },
            };
        }

        // Running jobs get real placements from the policy on an empty cluster, then started at random times in the last hours.
        var candidates = Enumerable.Range(0, runningCount).Select(_ => MakeJob(now.AddHours(-10))).ToList();
        var unlimited = projects.Select(p => p with { Quota = Quota.Unlimited }).ToList();
        var placed = PlanningPolicy.Backfill().Schedule(new ClusterSnapshot { Now = now, Nodes = nodes, Projects = unlimited, Queued = candidates, Running = [], ExplainPending = false });
        var byId = candidates.ToDictionary(j => j.Id);
        var running = placed.Starts.Select(s => byId[s.JobId] with
        {
            State = JobState.Running,
            Attempts = [new JobAttempt { Number = 1, Placement = s.Placement, StartedAt = now.AddMinutes(-random.Next(1, 600)) }],
        }).ToList();
        var queued = Enumerable.Range(0, queuedCount).Select(_ => MakeJob(now.AddHours(-1))).ToList();
        return new ClusterSnapshot { Now = now, Nodes = nodes, Projects = projects, Queued = queued, Running = running };
    }
}

/// <summary>
/// A fingerprint of every decision (starts, preemptions, each pending job's reason, rejections, position
/// and estimate) for a few synthetic snapshots, so a speed change can be checked to decide exactly as before:
/// run with --digest before and after and compare. Includes emptier clusters, where jobs start.
/// </summary>
internal static class Digests
{
    public static int Print(DateTimeOffset now)
    {
        (int Nodes, int Queued, int Running)[] cases = [(64, 1000, 200), (64, 1000, 20), (1024, 10_000, 4000), (1024, 10_000, 600), (10_000, 100_000, 30_000), (10_000, 100_000, 9000)];
        foreach (var (nodes, queued, running) in cases)
        {
            var snapshot = Synthetic.Snapshot(now, nodes, queued, running, seed: nodes + running);
            foreach (var name in new[] { SchedulingPolicies.Default, PlanningPolicy.BackfillName, PlanningPolicy.FairShareName })
            {
                var policy = SchedulingPolicies.Create(name);
                var first = Of(policy.Schedule(snapshot));
                var again = Of(policy.Schedule(snapshot));
                var decisions = policy.Schedule(snapshot);
                var longWay = Of(PassShortcuts.WithoutShortcuts(() => SchedulingPolicies.Create(name).Schedule(snapshot)));
                Console.WriteLine($"{name,-10} {nodes,6} {queued,7} {running,6}: {first} {(first == again ? "repeat-same" : "REPEAT-DIFFERS " + again)} "
                    + $"{(first == longWay ? "as-long-way" : "LONG-WAY-DIFFERS " + longWay)} starts {decisions.Starts.Count} preemptions {decisions.Preemptions.Count}");
            }
        }

        return 0;
    }

    private static string Of(SchedulingDecisions decisions)
    {
        var text = new System.Text.StringBuilder();
        foreach (var start in decisions.Starts)
        {
            text.Append("S ").Append(start.JobId).Append(' ').AppendJoin(';', start.Placement.Select(p => $"{p.Rank}@{p.Node}:{string.Join(',', p.AcceleratorIndices)}")).Append('\n');
        }

        foreach (var preempt in decisions.Preemptions)
        {
            text.Append("P ").Append(preempt.JobId).Append(' ').Append(preempt.ForJobId).Append(' ').Append(preempt.Reason).Append('\n');
        }

        foreach (var pending in decisions.Pending)
        {
            text.Append("W ").Append(pending.JobId).Append(' ').Append(pending.QueuePosition).Append(' ').Append(pending.Reason).Append(' ')
                .Append(pending.EstimatedStart?.UtcTicks).Append(' ')
                .AppendJoin(',', pending.NodeRejections.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")).Append('\n');
        }

        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }
}
