using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>Settings of <see cref="LasPolicy"/>.</summary>
public sealed record LasOptions
{
    /// <summary>
    /// Attained service, in GPU-seconds, at which a job drops to the next queue. Default 3,200 and
    /// 25,600 (three queues), the thresholds the scheduling issue measures Tiresias with.
    /// </summary>
    public IReadOnlyList<double> QueueThresholdsGpuSeconds { get; init; } = [3_200, 25_600];

    /// <summary>
    /// Starvation promotion: a preempted job in a lower queue that has waited this many times as long
    /// as it has run (since its last promotion) goes back to the first queue with its service count
    /// restarted. 0 turns promotion off. Default 8.
    /// </summary>
    public double PromoteKnob { get; init; } = 8;
}

/// <summary>
/// Least attained service for jobs of unknown duration: Tiresias' discretised two-dimensional LAS
/// (Gu et al., NSDI 2019). A job's service is the GPU-seconds it has held (GPUs times time run,
/// summed over its attempts). Jobs sit in queues by service (below the first threshold: queue 0); a
/// lower queue always goes first, and within a queue the earlier submission goes first. Preemptive:
/// a job in a better queue takes the GPUs of running jobs in worse ones. Long jobs sink, so short ones
/// finish fast without anyone knowing durations; starvation promotion lifts a job that has waited too
/// long back to queue 0.
/// </summary>
/// <remarks>
/// The policy keeps no state between passes: service and promotions are worked out from each job's
/// attempts, so the live server and the simulator need only hand in jobs. It asks for the next pass
/// (<see cref="SchedulingDecisions.NextPassAt"/>) when a running job will cross a threshold or a waiting
/// job will reach its promotion, because either may change what should run although no job arrives or ends.
/// </remarks>
public sealed class LasPolicy(LasOptions options) : ISchedulingPolicy
{
    public const string PolicyName = "las";

    public LasPolicy()
        : this(new LasOptions())
    {
    }

    public string Name => PolicyName;

    public LasOptions Options { get; } = options;

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var now = snapshot.Now;
        var pass = new QueuePass(snapshot);
        DateTimeOffset? wake = null;
        void WakeAt(DateTimeOffset at)
        {
            if (at > now && (wake is null || at < wake))
            {
                wake = at;
            }
        }

        // 1. Rank every job that could hold GPUs: those running (unless already stopping, or not
        //    preemptible: those keep what they have) and those queued, by queue then submit time.
        var budget = pass.Free.Nodes.Where(n => n.Node.State == Core.Cluster.NodeState.Ready)
            .Sum(n => n.AcceleratorTypes.Sum(t => n.Node.Allocatable.AcceleratorsOf(t)));
        var ranked = new List<Ranked>(snapshot.Running.Count + snapshot.Queued.Count);
        foreach (var job in snapshot.Running)
        {
            var gpus = QueuePass.Accelerators(job.Spec);
            if (job.Stop is not null || !job.Spec.Preemptible)
            {
                budget -= gpus;
                continue;
            }

            var service = Service(job, now, out _);
            var queue = QueueOf(service);
            if (queue < Options.QueueThresholdsGpuSeconds.Count && gpus > 0)
            {
                WakeAt(now.AddSeconds((Options.QueueThresholdsGpuSeconds[queue] - service) / gpus));
            }

            ranked.Add(new Ranked(job, queue, Running: true));
        }

        foreach (var job in snapshot.Queued)
        {
            var service = Service(job, now, out var promoteAt);
            var queue = QueueOf(service);
            if (promoteAt is { } at)
            {
                if (at <= now)
                {
                    queue = 0;
                }
                else if (queue > 0)
                {
                    WakeAt(at);
                }
            }

            ranked.Add(new Ranked(job, queue, Running: false));
        }

        ranked.Sort(static (a, b) =>
        {
            var byQueue = a.Queue.CompareTo(b.Queue);
            if (byQueue != 0)
            {
                return byQueue;
            }

            var bySubmit = a.Job.SubmittedAt.CompareTo(b.Job.SubmittedAt);
            return bySubmit != 0 ? bySubmit : a.Job.Id.CompareTo(b.Job.Id);
        });

        // 2. Who deserves the GPUs: take jobs in rank order while their GPUs fit in the cluster's total
        //    (a job too large for what is left is passed over, not waited for, as Tiresias does).
        var deserving = new HashSet<long>();
        foreach (var entry in ranked)
        {
            var gpus = QueuePass.Accelerators(entry.Job.Spec);
            if (gpus <= budget)
            {
                budget -= gpus;
                deserving.Add(entry.Job.Id);
            }
        }

        // 3. Running jobs that do not deserve their GPUs may lose them, but only to a deserving job
        //    that needs exactly their room: victims are chosen by placement, never by count alone.
        var candidates = ranked.Where(e => e.Running && !deserving.Contains(e.Job.Id)).Select(e => e.Job).Reverse().ToList();
        var position = 0;
        var passedOver = new List<(Job Job, int Position)>();
        foreach (var entry in ranked)
        {
            if (entry.Running)
            {
                continue;
            }

            var job = entry.Job;
            position++;
            if (!deserving.Contains(job.Id))
            {
                passedOver.Add((job, position));
                continue;
            }

            if (pass.ProjectProblem(job, out _) is { } problem)
            {
                pass.Pend(job, problem, position);
                continue;
            }

            if (pass.TryStart(job, out var result))
            {
                continue;
            }

            var victims = candidates.Count == 0 ? [] : ChooseVictims(pass, job, candidates);
            if (victims.Count == 0)
            {
                pass.Pend(job, pass.NoRoom(job, result), position, result.Rejections);
                continue;
            }

            foreach (var victim in victims)
            {
                candidates.Remove(victim);
                pass.Preemptions.Add(new PreemptDecision(victim.Id, job.Id, $"preempted by job {job.Id}, which has attained less service (las)"));
            }

            pass.Pend(job, PendingReasons.WaitingForStops(victims.Select(v => v.Id), allPreempted: true), position);
        }

        // 4. Work conservation: GPUs the deserving jobs could not use (they did not fit the shape of
        //    what is free) go to passed-over jobs rather than idle.
        foreach (var (job, at) in passedOver)
        {
            if (pass.ProjectProblem(job, out _) is { } problem)
            {
                pass.Pend(job, problem, at);
            }
            else if (!pass.TryStart(job, out var result))
            {
                pass.Pend(job, $"jobs with less attained service come first (las); {pass.NoRoom(job, result)}", at, result.Rejections);
            }
        }

        return pass.Decisions(wake);
    }

    /// <summary>
    /// The fewest of <paramref name="candidates"/> (worst-ranked first) whose stop lets <paramref name="job"/>
    /// fit, and promises the job that room; empty (and nothing promised) when even all of them would not do.
    /// </summary>
    private static List<Job> ChooseVictims(QueuePass pass, Job job, List<Job> candidates)
    {
        var future = pass.Free.Clone();
        var victims = new List<Job>();
        foreach (var candidate in candidates)
        {
            future.Release(candidate);
            victims.Add(candidate);
            if (pass.Placer.Fits(future, job.Spec))
            {
                break;
            }
        }

        if (!pass.Placer.Fits(future, job.Spec))
        {
            return [];
        }

        // Spare, best-ranked first, every victim the job can do without.
        for (var i = victims.Count - 1; i >= 0 && victims.Count > 1; i--)
        {
            var trial = pass.Free.Clone();
            for (var v = 0; v < victims.Count; v++)
            {
                if (v != i)
                {
                    trial.Release(victims[v]);
                }
            }

            if (pass.Placer.Fits(trial, job.Spec))
            {
                victims.RemoveAt(i);
            }
        }

        var promised = pass.Free.Clone();
        foreach (var victim in victims)
        {
            promised.Release(victim);
        }

        pass.Placer.PlaceGang(promised, job.Spec);
        pass.Free.RestrictTo(promised);
        return victims;
    }

    private int QueueOf(double service)
    {
        var thresholds = Options.QueueThresholdsGpuSeconds;
        var queue = 0;
        while (queue < thresholds.Count && service >= thresholds[queue])
        {
            queue++;
        }

        return queue;
    }

    /// <summary>
    /// GPU-seconds attained since the job was last promoted, and for a job waiting in a lower queue,
    /// when it will be (or was) promoted: after waiting <see cref="LasOptions.PromoteKnob"/> times as
    /// long as it has run since its last promotion. A gap between attempts that long was a promotion,
    /// so the count restarts there. Only jobs below queue 0 are promoted, and the wait grows with the
    /// run time, so a job preempted moments after it started cannot bounce straight back.
    /// </summary>
    private double Service(Job job, DateTimeOffset now, out DateTimeOffset? promoteAt)
    {
        promoteAt = null;
        var gpus = QueuePass.Accelerators(job.Spec);
        var knob = Options.PromoteKnob;
        double service = 0;
        var ran = TimeSpan.Zero;
        DateTimeOffset? lastEnd = null;
        foreach (var attempt in job.Attempts)
        {
            if (lastEnd is { } end && knob > 0 && QueueOf(service) > 0 && attempt.StartedAt - end >= ran * knob)
            {
                service = 0;
                ran = TimeSpan.Zero;
            }

            var ended = attempt.EndedAt ?? now;
            ran += ended - attempt.StartedAt;
            service += gpus * (ended - attempt.StartedAt).TotalSeconds;
            lastEnd = attempt.EndedAt;
        }

        if (job.State.IsQueued() && lastEnd is { } waitingSince && knob > 0 && QueueOf(service) > 0 && ran > TimeSpan.Zero)
        {
            promoteAt = waitingSince + ran * knob;
        }

        return service;
    }

    private readonly record struct Ranked(Job Job, int Queue, bool Running);
}
