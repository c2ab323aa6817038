using Stratum.Core.Jobs;
using Stratum.Scheduling.Placement;

namespace Stratum.Scheduling;

/// <summary>Settings of <see cref="LasPolicy"/>.</summary>
public sealed record LasOptions
{
    /// <summary>
    /// Attained service, in GPU-seconds, at which a job drops to the next queue, ascending. Default
    /// 3,200 and 25,600 (three queues), the thresholds the scheduling issue measures Tiresias with.
    /// </summary>
    public IReadOnlyList<double> QueueThresholdsGpuSeconds { get; init; } = [3_200, 25_600];

    /// <summary>
    /// Starvation promotion: a preempted job in a lower queue that has waited this many times as long
    /// as it has run (since its last promotion) goes back to the first queue with its service count
    /// restarted. 0 turns promotion off. Default 8.
    /// </summary>
    public double PromoteKnob { get; init; } = 8;

    /// <summary>
    /// Least time an attempt runs before it may be preempted. Each preemption costs the victim a restart
    /// (reload, warm-up); without a floor a job that just resumed can be stopped again at once and pay
    /// that cost over and over. Default zero (Tiresias has none).
    /// </summary>
    public TimeSpan MinRunBeforePreemption { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// <paramref name="count"/> thresholds <paramref name="first"/>, first x factor, first x factor², ...:
    /// finer queues make discretised LAS approach continuous LAS.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is not positive, the factor is not above 1, or count is below 1.</exception>
    public static IReadOnlyList<double> Geometric(double first, double factor, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(first);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(factor, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var thresholds = new double[count];
        for (var i = 0; i < count; i++)
        {
            thresholds[i] = first * Math.Pow(factor, i);
        }

        return thresholds;
    }
}

/// <summary>
/// Least attained service for jobs of unknown duration: Tiresias' discretised two-dimensional LAS
/// (Gu et al., NSDI 2019). A job's service is the GPU-seconds it has held (GPUs times time run,
/// summed over its attempts). Jobs sit in queues by service (below the first threshold: queue 0); a
/// lower queue always goes first, and within a queue the earlier submission goes first. Preemptive:
/// a job in a better queue takes the GPUs of running jobs in strictly worse ones. Long jobs sink, so short
/// ones finish fast without anyone knowing durations; starvation promotion lifts a job that has waited
/// too long back to queue 0.
/// </summary>
/// <remarks>
/// <para>
/// Preemption is held back on purpose (an earlier version preempted far more than it gained): a running
/// job is stopped only for a waiting job of a strictly better queue, only if that job then fits in what
/// is free plus what the victims give back (so it does start; nothing is stopped for a job that would
/// still wait), never a job that is not preemptible or is already stopping, never one whose attempt has
/// run less than <see cref="LasOptions.MinRunBeforePreemption"/>, and always whole gangs. The freed room
/// is promised to that job, so nothing else in the pass takes it.
/// </para>
/// <para>
/// The policy keeps no state between passes: service and promotions are worked out from each job's
/// attempts, so the live server and the simulator need only hand in jobs. It asks for the next pass
/// (<see cref="SchedulingDecisions.NextPassAt"/>) when a running job will cross a threshold, a waiting
/// job will reach its promotion, or a blocked job's would-be victim ends its minimum run, because each
/// may change what should run although no job arrives or ends.
/// </para>
/// </remarks>
public sealed class LasPolicy(LasOptions options) : ISchedulingPolicy
{
    public const string PolicyName = "las";

    public LasPolicy()
        : this(new LasOptions())
    {
    }

    public LasPolicy(LasOptions options, string name)
        : this(options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    public string Name { get; } = PolicyName;

    public LasOptions Options { get; } = options;

    public SchedulingDecisions Schedule(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var now = snapshot.Now;
        DateTimeOffset? wake = null;
        void WakeAt(DateTimeOffset at)
        {
            if (at > now && (wake is null || at < wake))
            {
                wake = at;
            }
        }

        // 1. Waiting jobs with their queue (promotion applied).
        var queues = Options.QueueThresholdsGpuSeconds.Count + 1;
        var bestWaitingQueue = queues;
        var waiting = new List<Ranked>(snapshot.Queued.Count);
        foreach (var job in snapshot.Queued)
        {
            var queue = QueueOf(Service(job, now, out var promoteAt));
            if (promoteAt is { } at && queue > 0)
            {
                if (at <= now)
                {
                    queue = 0;
                }
                else
                {
                    WakeAt(at);
                }
            }

            waiting.Add(new Ranked(job, queue));
            bestWaitingQueue = Math.Min(bestWaitingQueue, queue);
        }

        // 2. Running jobs that could be preempted, with their queue; those stopping or not preemptible
        //    keep what they have. A running job crossing a threshold matters only when it then ranks
        //    below a waiting job, so only such crossings ask for a pass (each pass costs a replay).
        var victims = new List<Ranked>(snapshot.Running.Count);
        var freeGpus = 0;
        foreach (var node in snapshot.Nodes)
        {
            if (node.State == Core.Cluster.NodeState.Ready)
            {
                foreach (var (_, count) in node.Allocatable.Accelerators)
                {
                    freeGpus += count;
                }
            }
        }

        var victimGpusInQueue = new int[queues];
        foreach (var job in snapshot.Running)
        {
            var gpus = QueuePass.Accelerators(job.Spec);
            freeGpus -= gpus;
            if (job.Stop is not null || !job.Spec.Preemptible)
            {
                continue;
            }

            var service = Service(job, now, out _);
            var queue = QueueOf(service);
            if (queue < queues - 1 && gpus > 0 && bestWaitingQueue <= queue)
            {
                WakeAt(now.AddSeconds((Options.QueueThresholdsGpuSeconds[queue] - service) / gpus));
            }

            victims.Add(new Ranked(job, queue));
            victimGpusInQueue[queue] += gpus;
        }

        // 3. Without reasons to give, a pass where no waiting job could have room (what is free plus
        //    what running jobs of worse queues hold) decides nothing: skip building the placement view,
        //    which is most of a pass's cost (a replay makes hundreds of thousands of passes).
        if (!snapshot.ExplainPending && !AnyCouldStart(waiting, freeGpus, victimGpusInQueue))
        {
            return new SchedulingDecisions([], [], []) { NextPassAt = wake };
        }

        var pass = new QueuePass(snapshot);
        waiting.Sort(BetterFirst);

        // Victims are taken worst first: the deepest queue, then the latest submission.
        victims.Sort(BetterFirst);
        victims.Reverse();

        // 4. Walk the waiting jobs best first. One that fits starts. One that does not may take the GPUs
        //    of running jobs in strictly worse queues, if that makes it fit now.
        //    Without reasons to give, a job larger than what is free plus what worse-queue victims hold
        //    cannot start; skipping it saves a placement per waiting job per pass (a replay's queue
        //    holds thousands).
        freeGpus = FreeAccelerators(pass);
        for (var i = 0; i < waiting.Count; i++)
        {
            var (job, queue) = waiting[i];
            var position = i + 1;
            var needs = QueuePass.Accelerators(job.Spec);
            var reclaimable = 0;
            for (var q = queue + 1; q < queues; q++)
            {
                reclaimable += victimGpusInQueue[q];
            }

            if (!pass.Explain && needs > freeGpus + reclaimable)
            {
                continue;
            }

            if (pass.ProjectProblem(job, out _) is { } problem)
            {
                pass.Pend(job, problem, position);
                continue;
            }

            GangResult? result = null;
            if ((needs <= freeGpus || pass.Explain) && pass.TryStart(job, out result))
            {
                freeGpus -= needs;
                continue;
            }

            var chosen = reclaimable > 0 ? ChooseVictims(pass, job, queue, victims, now, WakeAt) : [];
            if (chosen.Count == 0)
            {
                if (pass.Explain)
                {
                    var placed = result ?? pass.Placer.PlaceGang(pass.Free, job.Spec);
                    pass.Pend(job, $"{pass.NoRoom(job, placed)} (las: queue {queue})", position, placed.Rejections);
                }

                continue;
            }

            foreach (var victim in chosen)
            {
                var index = victims.FindIndex(v => v.Job.Id == victim.Id);
                victimGpusInQueue[victims[index].Queue] -= QueuePass.Accelerators(victim.Spec);
                victims.RemoveAt(index);
                pass.Preemptions.Add(new PreemptDecision(victim.Id, job.Id, $"preempted by job {job.Id}, which has attained less service (las)"));
            }

            freeGpus = FreeAccelerators(pass);
            pass.Pend(job, PendingReasons.WaitingForStops(chosen.Select(v => v.Id), allPreempted: true), position);
        }

        return pass.Decisions(wake);
    }

    private static bool AnyCouldStart(List<Ranked> waiting, int freeGpus, int[] victimGpusInQueue)
    {
        // reclaimable[q]: GPUs held by preemptible running jobs of queues worse than q.
        var reclaimable = new int[victimGpusInQueue.Length];
        for (var q = victimGpusInQueue.Length - 2; q >= 0; q--)
        {
            reclaimable[q] = reclaimable[q + 1] + victimGpusInQueue[q + 1];
        }

        foreach (var (job, queue) in waiting)
        {
            if (QueuePass.Accelerators(job.Spec) <= freeGpus + reclaimable[queue])
            {
                return true;
            }
        }

        return false;
    }

    private static int FreeAccelerators(QueuePass pass)
    {
        var free = 0;
        foreach (var node in pass.Free.Nodes)
        {
            if (node.Node.State == Core.Cluster.NodeState.Ready)
            {
                foreach (var type in node.AcceleratorTypes)
                {
                    free += node.FreeAccelerators(type);
                }
            }
        }

        return free;
    }

    private static int BetterFirst(Ranked a, Ranked b)
    {
        var byQueue = a.Queue.CompareTo(b.Queue);
        if (byQueue != 0)
        {
            return byQueue;
        }

        var bySubmit = a.Job.SubmittedAt.CompareTo(b.Job.SubmittedAt);
        return bySubmit != 0 ? bySubmit : a.Job.Id.CompareTo(b.Job.Id);
    }

    /// <summary>
    /// The fewest running jobs of queues worse than <paramref name="queue"/> (worst first) whose stop lets
    /// <paramref name="job"/> fit, and promises the job that room; empty (and nothing promised) when even
    /// all of them would not do.
    /// </summary>
    private List<Job> ChooseVictims(QueuePass pass, Job job, int queue, List<Ranked> victims, DateTimeOffset now, Action<DateTimeOffset> wakeAt)
    {
        var future = pass.Free.Clone();
        var chosen = new List<Job>();
        var fits = false;
        DateTimeOffset? firstRipe = null;
        foreach (var (candidate, candidateQueue) in victims)
        {
            if (candidateQueue <= queue)
            {
                break;
            }

            // A victim still inside its minimum run is not taken now; the pass after its floor may.
            var ripeAt = (candidate.CurrentAttempt?.StartedAt ?? now) + Options.MinRunBeforePreemption;
            if (ripeAt > now)
            {
                firstRipe = firstRipe is { } f && f < ripeAt ? f : ripeAt;
                continue;
            }

            future.Release(candidate);
            chosen.Add(candidate);
            if (pass.Placer.Fits(future, job.Spec))
            {
                fits = true;
                break;
            }
        }

        if (!fits)
        {
            if (firstRipe is { } ripe)
            {
                wakeAt(ripe);
            }

            return [];
        }

        // Spare, best-ranked first, every victim the job can do without.
        for (var i = chosen.Count - 2; i >= 0; i--)
        {
            var trial = pass.Free.Clone();
            for (var v = 0; v < chosen.Count; v++)
            {
                if (v != i)
                {
                    trial.Release(chosen[v]);
                }
            }

            if (pass.Placer.Fits(trial, job.Spec))
            {
                chosen.RemoveAt(i);
            }
        }

        var promised = pass.Free.Clone();
        foreach (var victim in chosen)
        {
            promised.Release(victim);
        }

        pass.Placer.PlaceGang(promised, job.Spec);
        pass.Free.RestrictTo(promised);
        return chosen;
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
        var attempts = job.Attempts;
        for (var a = 0; a < attempts.Count; a++)
        {
            var attempt = attempts[a];
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

    private readonly record struct Ranked(Job Job, int Queue);
}
