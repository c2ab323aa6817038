using Stratum.Core.Jobs;

namespace Stratum.Scheduling;

/// <summary>
/// Attained service in bands, for the planning engine's least-attained-service order (<c>default</c>).
/// The same model as <see cref="LasPolicy"/> (Tiresias' discretised LAS): a job's service is the
/// GPU-seconds it has held over its attempts; band 0 is below the first threshold; a job waiting in a
/// lower band is promoted to band 0 once it has waited <see cref="PromoteKnob"/> times as long as it has
/// run since its last promotion, and its count restarts when it next runs after such a wait.
/// Kept apart from LasPolicy so that the planning engine does not depend on LAS's internals; a test holds
/// the two to the same bands (AttainedServiceTests). Not thread-safe: the policy runs one pass at a time.
/// </summary>
internal sealed class AttainedService
{
    private readonly double[] _thresholds;

    // Per job object, what its ended attempts add up to: that never changes while the job object is the
    // same (records never change in place). Only jobs seen in the last pass are kept.
    private Dictionary<long, Entry> _last = [];
    private Dictionary<long, Entry> _now = [];

    /// <exception cref="ArgumentException">The thresholds are empty, not positive or not ascending, or the knob is negative.</exception>
    public AttainedService(IReadOnlyList<double> thresholdsGpuSeconds, double promoteKnob)
    {
        ArgumentNullException.ThrowIfNull(thresholdsGpuSeconds);
        if (thresholdsGpuSeconds.Count == 0)
        {
            throw new ArgumentException("at least one service band threshold is needed", nameof(thresholdsGpuSeconds));
        }

        for (var i = 0; i < thresholdsGpuSeconds.Count; i++)
        {
            if (!(thresholdsGpuSeconds[i] > 0) || (i > 0 && thresholdsGpuSeconds[i] <= thresholdsGpuSeconds[i - 1]))
            {
                throw new ArgumentException($"service band thresholds must be positive and ascending; threshold {i + 1} is {thresholdsGpuSeconds[i]}", nameof(thresholdsGpuSeconds));
            }
        }

        if (!(promoteKnob >= 0))
        {
            throw new ArgumentException($"the promotion knob must be 0 (off) or positive, not {promoteKnob}", nameof(promoteKnob));
        }

        _thresholds = [.. thresholdsGpuSeconds];
        PromoteKnob = promoteKnob;
    }

    public IReadOnlyList<double> Thresholds => _thresholds;

    public double PromoteKnob { get; }

    /// <summary>The number of bands: one more than thresholds.</summary>
    public int Bands => _thresholds.Length + 1;

    public int BandOf(double service)
    {
        var band = 0;
        while (band < _thresholds.Length && service >= _thresholds[band])
        {
            band++;
        }

        return band;
    }

    /// <summary>
    /// As <see cref="BandOf(double)"/>, searching up from <paramref name="from"/> when the service has reached it (a
    /// band worked out earlier for a service that has only grown since), else from band 0.
    /// </summary>
    public int BandOf(double service, int from)
    {
        var band = from > 0 && from <= _thresholds.Length && service >= _thresholds[from - 1] ? from : 0;
        while (band < _thresholds.Length && service >= _thresholds[band])
        {
            band++;
        }

        return band;
    }

    /// <summary>Service at which a job leaves <paramref name="band"/>; infinity for the last band.</summary>
    public double UpperBound(int band) => band < _thresholds.Length ? _thresholds[band] : double.PositiveInfinity;

    /// <summary>Accelerators of every type the whole gang holds.</summary>
    public static int Gpus(JobSpec spec)
    {
        var perReplica = 0;
        foreach (var (_, count) in spec.Resources.Accelerators)
        {
            perReplica += count;
        }

        return perReplica * spec.Replicas;
    }

    /// <summary>
    /// A waiting job's band (promotion applied) and, when it sits below band 0 and is not promoted yet,
    /// when it will be.
    /// </summary>
    public int WaitingBand(Job job, DateTimeOffset now, out DateTimeOffset? promoteAt)
    {
        promoteAt = null;
        var (service, ran, lastEnd) = Ended(job);
        var band = BandOf(service);
        if (band > 0 && PromoteKnob > 0 && lastEnd is { } waitingSince && ran > TimeSpan.Zero)
        {
            var at = waitingSince + (ran * PromoteKnob);
            if (at <= now)
            {
                return 0;
            }

            promoteAt = at;
        }

        return band;
    }

    /// <summary>A running job's service up to <paramref name="now"/>: its earlier attempts (after any promotion reset) and the current one.</summary>
    public double RunningService(Job job, DateTimeOffset now)
    {
        if (job.Attempts.Count == 0)
        {
            return 0;
        }

        var entry = Get(job);
        if (entry.BeforeLast is null)
        {
            entry.BeforeLast = Walk(job, job.Attempts.Count - 1, default).Service;
        }

        var last = job.Attempts[^1];
        return entry.BeforeLast.Value + (entry.Gpus * ((last.EndedAt ?? now) - last.StartedAt).TotalSeconds);
    }

    /// <summary>
    /// The two parts of <see cref="RunningService"/> that do not move with the clock: the service before the
    /// current attempt and the devices the gang holds; service now is the first plus the second times the
    /// seconds the current attempt has run (the same sum <see cref="RunningService"/> makes).
    /// </summary>
    public (double BeforeLast, int Gpus) RunningParts(Job job)
    {
        if (job.Attempts.Count == 0)
        {
            return (0, 0);
        }

        var entry = Get(job);
        entry.BeforeLast ??= Walk(job, job.Attempts.Count - 1, default).Service;
        return (entry.BeforeLast.Value, entry.Gpus);
    }

    /// <summary>
    /// The attempts' service summed in order, back to zero at an attempt that started after a wait long
    /// enough for promotion; stops before adding attempt <paramref name="stopBefore"/> (whose start may
    /// still reset the count). Also the time run since the last reset and when the last counted attempt ended.
    /// </summary>
    private (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) Walk(Job job, int stopBefore, DateTimeOffset now)
    {
        // Resumed after the ended attempts walked before for this job id (the same attempt records: a job's history
        // only grows), so a job preempted hundreds of times is not walked from its first attempt on every start
        // and requeue. The walk over the ended prefix is remembered for the next time.
        var gpus = Gpus(job.Spec);
        var first = _thresholds.Length > 0 ? _thresholds[0] : double.PositiveInfinity;
        var attempts = job.Attempts;
        var from = 0;
        var state = default((double Service, TimeSpan Ran, DateTimeOffset? LastEnd));
        if (_prefixes.TryGetValue(job.Id, out var kept) && kept.Count <= stopBefore && kept.Count <= attempts.Count
            && ReferenceEquals(attempts[kept.Count - 1], kept.Last) && kept.Gpus == gpus)
        {
            (from, state) = (kept.Count, kept.State);
        }

        var ended = from;
        while (ended < stopBefore && ended < attempts.Count && attempts[ended].EndedAt is not null)
        {
            ended++;
        }

        if (ended > from)
        {
            // Stopping before attempt `ended` may already apply its reset; the walk resumed there checks it again,
            // which changes nothing (a reset leaves no service to reset).
            state = Walk(job, gpus, PromoteKnob, first, ended, default, from, state);
            from = ended;
            if (_prefixes.Count >= MaxPrefixes)
            {
                _prefixes.Clear();
            }

            _prefixes[job.Id] = (ended, attempts[ended - 1], gpus, state);
        }

        return Walk(job, gpus, PromoteKnob, first, stopBefore, now, from, state);
    }

    // Bounds the prefixes kept for a long-lived server: past this many job ids they start again.
    private const int MaxPrefixes = 200_000;

    private readonly Dictionary<long, (int Count, JobAttempt Last, int Gpus, (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) State)> _prefixes = [];

    /// <summary>
    /// The attempts' GPU-seconds in order (a running one up to <paramref name="now"/>), back to zero at an
    /// attempt that started after a wait of <paramref name="promoteKnob"/> times the time run, once the service
    /// had left the first band (reached <paramref name="firstThreshold"/>); stops before adding attempt
    /// <paramref name="stopBefore"/> (whose start may still reset). Shared with <see cref="LasPolicy"/>, whose
    /// queues are these bands: both must count service the same way.
    /// </summary>
    internal static (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) Walk(
        Job job, int gpus, double promoteKnob, double firstThreshold, int stopBefore, DateTimeOffset now) =>
        Walk(job, gpus, promoteKnob, firstThreshold, stopBefore, now, from: 0, (0, TimeSpan.Zero, null));

    /// <summary>
    /// As <see cref="Walk(Job, int, double, double, int, DateTimeOffset)"/>, resumed at attempt <paramref name="from"/>
    /// with <paramref name="state"/>, what the walk had after the attempts before it: the same steps in the same
    /// order, so the same sums to the last bit.
    /// </summary>
    internal static (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) Walk(
        Job job, int gpus, double promoteKnob, double firstThreshold, int stopBefore, DateTimeOffset now,
        int from, (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) state)
    {
        var (service, ran, lastEnd) = state;
        var attempts = job.Attempts;
        for (var a = from; a < attempts.Count; a++)
        {
            var attempt = attempts[a];
            if (lastEnd is { } end && promoteKnob > 0 && service >= firstThreshold && attempt.StartedAt - end >= ran * promoteKnob)
            {
                service = 0;
                ran = TimeSpan.Zero;
            }

            if (a == stopBefore)
            {
                break;
            }

            var ended = attempt.EndedAt ?? now;
            ran += ended - attempt.StartedAt;
            service += gpus * (ended - attempt.StartedAt).TotalSeconds;
            lastEnd = attempt.EndedAt;
        }

        return (service, ran, lastEnd);
    }

    // A queued job's attempts have all ended (a job is queued again only after its attempt ends); one
    // that has not is counted up to its start, which is what it holds while it has not run.
    private (double Service, TimeSpan Ran, DateTimeOffset? LastEnd) Ended(Job job)
    {
        if (job.Attempts.Count == 0)
        {
            return (0, TimeSpan.Zero, null);
        }

        var entry = Get(job);
        entry.Waiting ??= Walk(job, job.Attempts.Count, job.Attempts[^1].StartedAt);
        return entry.Waiting.Value;
    }

    /// <summary>Starts a pass: entries of jobs not asked about since the pass before are dropped.</summary>
    public void BeginPass()
    {
        (_last, _now) = (_now, _last);
        _now.Clear();
    }

    private Entry Get(Job job)
    {
        if (_now.TryGetValue(job.Id, out var found) && ReferenceEquals(found.Job, job))
        {
            return found;
        }

        if (!_last.TryGetValue(job.Id, out found) || !ReferenceEquals(found.Job, job))
        {
            found = new Entry(job, Gpus(job.Spec));
        }

        _now[job.Id] = found;
        return found;
    }

    private sealed class Entry(Job job, int gpus)
    {
        public Job Job { get; } = job;

        public int Gpus { get; } = gpus;

        public double? BeforeLast { get; set; }

        public (double Service, TimeSpan Ran, DateTimeOffset? LastEnd)? Waiting { get; set; }
    }
}
