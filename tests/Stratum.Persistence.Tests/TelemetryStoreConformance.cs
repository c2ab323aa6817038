namespace Stratum.Persistence.Tests;

/// <summary>What every store's <see cref="ITelemetryRepository"/> must do: recording, bucketed reads, rollups and retention.</summary>
public abstract class TelemetryStoreConformance
{
    private static readonly DateTimeOffset Start = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A new, empty store with its schema in place. The test disposes it.</summary>
    protected abstract Task<IMetadataStore> CreateStoreAsync();

    [Fact]
    public async Task Record_ThenQueryRaw_ReturnsEachPointOncePerSeries()
    {
        await using var store = await CreateStoreAsync().Within();
        var points = Enumerable.Range(0, 6).SelectMany(i => new[]
        {
            new TelemetryPoint("node/a", "cpu_utilization", Start.AddSeconds(10 * i), 0.1 * i),
            new TelemetryPoint("job/7", "cpu_cores", Start.AddSeconds(10 * i), 2.0),
        }).ToList();

        await store.Telemetry.RecordAsync(points).Within();
        // The same round stored again (a retried write) changes nothing.
        await store.Telemetry.RecordAsync(points[..2]).Within();

        var node = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = "node/a", Since = Start, Until = Start.AddMinutes(1), Step = TimeSpan.FromSeconds(10),
        }).Within();
        Assert.Equal(6, node.Count);
        Assert.All(node, b => Assert.Equal(1, b.Samples));
        Assert.Equal([0, 0.1, 0.2, 0.3, 0.4, 0.5], node.Select(b => Math.Round(b.Average, 6)));
        Assert.Equal(Start.AddSeconds(50), node[^1].At);

        var jobs = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            SubjectPrefix = "job/", Since = Start, Until = Start.AddMinutes(1), Step = TimeSpan.FromMinutes(1),
        }).Within();
        var summary = Assert.Single(jobs);
        Assert.Equal(("job/7", "cpu_cores", 6L, 2.0), (summary.Subject, summary.Metric, summary.Samples, summary.Average));
    }

    [Fact]
    public async Task Query_WideStep_GivesAverageAndMaxOfTheWindow()
    {
        await using var store = await CreateStoreAsync().Within();
        await store.Telemetry.RecordAsync([
            new("job/1", "memory_bytes", Start, 100),
            new("job/1", "memory_bytes", Start.AddSeconds(10), 300),
            new("job/1", "memory_bytes", Start.AddSeconds(20), 200),
            new("job/1", "memory_bytes", Start.AddMinutes(5), 9999), // outside the window
        ]).Within();

        var bucket = Assert.Single(await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = "job/1", Metric = "memory_bytes", Since = Start, Until = Start.AddMinutes(1), Step = TimeSpan.FromMinutes(1),
        }).Within());

        Assert.Equal(200, bucket.Average, 6);
        Assert.Equal(300, bucket.Max);
        Assert.Equal(3, bucket.Samples);
    }

    [Fact]
    public async Task Maintain_RollsCompleteMinutesAndHoursAndIsRepeatable()
    {
        await using var store = await CreateStoreAsync().Within();
        // Two hours of one sample every 10 s: the value is the minute number, so averages are checkable.
        var points = Enumerable.Range(0, 720).Select(i => new TelemetryPoint("node/a", "cpu_utilization", Start.AddSeconds(10 * i), i / 6)).ToList();
        await store.Telemetry.RecordAsync(points).Within();

        // 2 h 30 s after the start: 120 complete minutes, 2 complete hours; the raw points are younger than a day.
        var first = await store.Telemetry.MaintainAsync(Start.AddHours(2).AddSeconds(30), new TelemetryRetention()).Within();
        var again = await store.Telemetry.MaintainAsync(Start.AddHours(2).AddSeconds(30), new TelemetryRetention()).Within();

        Assert.Equal(new TelemetryMaintenance(120, 2, 0), first);
        Assert.Equal(0, again.Deleted);
        var minutes = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = "node/a", Since = Start, Until = Start.AddHours(2), Resolution = TelemetryResolution.Minute, Step = TimeSpan.FromMinutes(1),
        }).Within();
        Assert.Equal(120, minutes.Count);
        Assert.Equal(Enumerable.Range(0, 120).Select(i => (double)i), minutes.Select(m => m.Average));
        Assert.All(minutes, m => Assert.Equal(6, m.Samples));

        var hours = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = "node/a", Since = Start, Until = Start.AddHours(2), Resolution = TelemetryResolution.Hour, Step = TimeSpan.FromHours(1),
        }).Within();
        Assert.Equal([29.5, 89.5], hours.Select(h => h.Average));
        Assert.Equal([59.0, 119.0], hours.Select(h => h.Max));
        Assert.Equal([360L, 360L], hours.Select(h => h.Samples));
    }

    [Fact]
    public async Task Maintain_PastRetention_DeletesEachResolutionAtItsAge()
    {
        await using var store = await CreateStoreAsync().Within();
        await store.Telemetry.RecordAsync([
            new("node/a", "load_1m", Start, 1),
            new("node/a", "load_1m", Start.AddHours(1).AddMinutes(1), 2),
        ]).Within();
        await store.Telemetry.MaintainAsync(Start.AddHours(3), new TelemetryRetention()).Within();

        // Two days on, raw points (kept a day) are gone while their minute and hour buckets stay.
        var later = await store.Telemetry.MaintainAsync(Start.AddDays(2), new TelemetryRetention()).Within();

        Assert.Equal(2, later.Deleted);
        Assert.Empty(await store.Telemetry.QueryAsync(new TelemetryQuery { Subject = "node/a", Since = Start, Until = Start.AddDays(2), Step = TimeSpan.FromDays(2) }).Within());
        var minutes = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = "node/a", Since = Start, Until = Start.AddDays(2), Resolution = TelemetryResolution.Minute, Step = TimeSpan.FromDays(2),
        }).Within();
        Assert.Equal(2, Assert.Single(minutes).Samples);

        // Past 30 days only the hour buckets remain.
        await store.Telemetry.MaintainAsync(Start.AddDays(31), new TelemetryRetention()).Within();
        Assert.Empty(await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = "node/a", Since = Start, Until = Start.AddDays(31), Resolution = TelemetryResolution.Minute, Step = TimeSpan.FromDays(31),
        }).Within());
        var hours = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = "node/a", Since = Start, Until = Start.AddDays(31), Resolution = TelemetryResolution.Hour, Step = TimeSpan.FromDays(31),
        }).Within();
        Assert.Equal(1.5, Assert.Single(hours).Average);
    }

    [Fact]
    public async Task Maintain_OverMaxRawRows_DeletesOldestRolledUpRoundsOnly()
    {
        await using var store = await CreateStoreAsync().Within();
        // 33 rounds every 10 s (0:00 to 5:20) of 3 series; each value is the round number.
        var points = Enumerable.Range(0, 33).SelectMany(i => new[]
        {
            new TelemetryPoint("node/a", "load_1m", Start.AddSeconds(10 * i), i),
            new TelemetryPoint("job/1", "cpu_cores", Start.AddSeconds(10 * i), i),
            new TelemetryPoint("job/2", "cpu_cores", Start.AddSeconds(10 * i), i),
        }).ToList();
        await store.Telemetry.RecordAsync(points).Within();
        var now = Start.AddMinutes(5).AddSeconds(30);

        // Bound 30 rows = the 10 newest rounds: everything up to 3:40 goes (23 rounds), all of it in minutes already rolled up.
        var first = await store.Telemetry.MaintainAsync(now, new TelemetryRetention { MaxRawRows = 30 }).Within();

        Assert.Equal((5, 69, 69), (first.MinuteBuckets / 3, first.RawOverBound, first.Deleted));
        var raw = await RawRoundsAsync(store, now);
        Assert.Equal(10, raw.Count);
        Assert.Equal(Start.AddSeconds(230), raw[0]);

        // Bound 3 rows = one round: only 3:50 may go. 4:00 to 4:50 is the newest minute bucket (recomputed from raw
        // rows at the next pass) and 5:00 to 5:20 is not rolled up yet, so they stay though the table is over the bound.
        var second = await store.Telemetry.MaintainAsync(now, new TelemetryRetention { MaxRawRows = 3 }).Within();

        Assert.Equal(3, second.RawOverBound);
        raw = await RawRoundsAsync(store, now);
        Assert.Equal(9, raw.Count);
        Assert.Equal(Start.AddMinutes(4), raw[0]);

        // Nothing was lost: every complete minute still averages its six rounds.
        var minutes = await store.Telemetry.QueryAsync(new TelemetryQuery
        {
            Subject = "job/2", Since = Start, Until = Start.AddMinutes(5), Resolution = TelemetryResolution.Minute, Step = TimeSpan.FromMinutes(1),
        }).Within();
        Assert.Equal([2.5, 8.5, 14.5, 20.5, 26.5], minutes.Select(b => b.Average));
        Assert.All(minutes, b => Assert.Equal(6, b.Samples));

        // A minute later 4:00 to 4:50 is an older minute: its bucket is final and its raw rows may go.
        var third = await store.Telemetry.MaintainAsync(now.AddMinutes(1), new TelemetryRetention { MaxRawRows = 3 }).Within();
        Assert.Equal(18, third.RawOverBound);
        Assert.Equal(3, (await RawRoundsAsync(store, now)).Count);
    }

    [Fact]
    public async Task Maintain_OverMaxRawRows_DeletesAtMostABatchPerPass()
    {
        await using var store = await CreateStoreAsync().Within();
        // 20 rounds (0:00 to 3:10) of 3 series; at 3:30 minutes 0 to 2 are rolled up, so rounds 0:00 to 1:50 may go.
        await store.Telemetry.RecordAsync([.. Enumerable.Range(0, 20).SelectMany(i => new[]
        {
            new TelemetryPoint("node/a", "load_1m", Start.AddSeconds(10 * i), i),
            new TelemetryPoint("job/1", "cpu_cores", Start.AddSeconds(10 * i), i),
            new TelemetryPoint("job/2", "cpu_cores", Start.AddSeconds(10 * i), i),
        })]).Within();
        var now = Start.AddMinutes(3).AddSeconds(30);
        var retention = new TelemetryRetention { MaxRawRows = 3, MaxRawRowsDeletedPerPass = 4 };

        // A batch of 4 rows reaches into the second round, and whole rounds go: 6 rows a pass.
        var passes = new List<int>();
        for (var pass = 0; pass < 10; pass++)
        {
            passes.Add((await store.Telemetry.MaintainAsync(now, retention).Within()).RawOverBound);
        }

        Assert.Equal([6, 6, 6, 6, 6, 6, 0, 0, 0, 0], passes);
        Assert.Equal(Start.AddMinutes(2), (await RawRoundsAsync(store, now))[0]);
    }

    [Fact]
    public async Task Maintain_NonPositiveMaxRawRows_ThrowsAndChangesNothing()
    {
        await using var store = await CreateStoreAsync().Within();
        await store.Telemetry.RecordAsync([new("node/a", "load_1m", Start, 1)]).Within();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.Telemetry.MaintainAsync(Start.AddDays(2), new TelemetryRetention { MaxRawRows = 0 })).Within();
        var batch = await Assert.ThrowsAsync<ArgumentException>(() => store.Telemetry.MaintainAsync(Start.AddDays(2), new TelemetryRetention { MaxRawRows = 10, MaxRawRowsDeletedPerPass = 0 })).Within();

        Assert.Contains("MaxRawRows 0", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxRawRowsDeletedPerPass 0", batch.Message, StringComparison.Ordinal);
        Assert.Single(await RawRoundsAsync(store, Start.AddMinutes(1)));
    }

    /// <summary>The distinct instants of the raw rows up to <paramref name="until"/>, oldest first.</summary>
    private static async Task<List<DateTimeOffset>> RawRoundsAsync(IMetadataStore store, DateTimeOffset until) =>
        [.. (await store.Telemetry.QueryAsync(new TelemetryQuery { SubjectPrefix = "", Since = Start, Until = until, Step = TimeSpan.FromSeconds(10) }).Within())
            .Select(b => b.At).Distinct().Order()];

    [Fact]
    public async Task Record_BadPoint_ThrowsNamingItAndStoresNothing()
    {
        await using var store = await CreateStoreAsync().Within();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.Telemetry.RecordAsync([
            new("node/a", "cpu_utilization", Start, 0.5),
            new("node/a", "cpu_utilization", Start.AddSeconds(10), double.NaN),
        ])).Within();

        Assert.Contains("point 1", error.Message, StringComparison.Ordinal);
        Assert.Empty(await store.Telemetry.QueryAsync(new TelemetryQuery { Subject = "node/a", Since = Start, Until = Start.AddHours(1), Step = TimeSpan.FromHours(1) }).Within());
        await Assert.ThrowsAsync<ArgumentException>(() => store.Telemetry.QueryAsync(new TelemetryQuery { Since = Start, Until = Start, Step = TimeSpan.FromMinutes(1) })).Within();
    }
}
