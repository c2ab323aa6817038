namespace Stratum.Execution.Tests;

public sealed class TelemetryTests
{
    private const string ProcStat = """
        cpu  4705 356 584 3699176 23060 0 277 0 0 0
        cpu0 1393 280 283 1847948 10948 0 177 0 0 0
        intr 114930548 113199788 3 0 5 263 0 4 [...]
        """;

    private const string MemInfo = """
        MemTotal:       24570460 kB
        MemFree:        21000000 kB
        MemAvailable:   22000000 kB
        Buffers:          100000 kB
        """;

    private const string NetDev = """
        Inter-|   Receive                                                |  Transmit
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
            lo: 1234567     100    0    0    0     0          0         0  1234567     100    0    0    0     0       0          0
          eth0: 98765432   54321    0    0    0     0          0         0 12345678   43210    0    0    0     0       0          0
        """;

    [Fact]
    public void ParseCpu_SumsBusyAndTotalTicks()
    {
        var cpu = NodeTelemetry.ParseCpu(ProcStat)!.Value;
        Assert.Equal(4705UL + 356 + 584 + 3699176 + 23060 + 0 + 277 + 0, cpu.Total);
        Assert.Equal(4705UL + 356 + 584 + 277, cpu.Busy);
    }

    [Fact]
    public void CpuUtilization_IsBusyShareOfElapsedTicks()
    {
        Assert.Equal(0.25, NodeTelemetry.CpuUtilization(new CpuTimes(100, 1000), new CpuTimes(150, 1200))!.Value, 9);
        Assert.Null(NodeTelemetry.CpuUtilization(new CpuTimes(100, 1000), new CpuTimes(100, 1000)));
    }

    [Fact]
    public void ParseMemory_ReadsTotalAndAvailableInBytes()
    {
        var memory = NodeTelemetry.ParseMemory(MemInfo)!.Value;
        Assert.Equal(24570460L * 1024, memory.Total);
        Assert.Equal(22000000L * 1024, memory.Available);
        Assert.Null(NodeTelemetry.ParseMemory("MemTotal: 12 kB\n"));
    }

    [Fact]
    public void ParseNetwork_SkipsLoopbackAndHeaders()
    {
        var device = Assert.Single(NodeTelemetry.ParseNetwork(NetDev));
        Assert.Equal(new NetworkCounters("eth0", 98765432, 12345678), device);
    }

    [Fact]
    public void ParseLoad_TakesTheOneMinuteAverage() => Assert.Equal(0.42, NodeTelemetry.ParseLoad("0.42 0.30 0.25 1/234 5678\n"));

    [Fact]
    public void GpuParse_ReadsNumbersAndLeavesNotAvailableUnknown()
    {
        var samples = GpuTelemetry.Parse("""
            0, GPU-5d9f1c2e-0000-0000-0000-000000000000, 87, 60210, 81559, 612.35, 71
            1, GPU-7a1b2c3d-0000-0000-0000-000000000001, [N/A], 0, 81559, [Not Supported], 34
            garbage line
            """);
        Assert.Equal(2, samples.Count);
        Assert.Equal(0.87, samples[0].Utilization!.Value, 9);
        Assert.Equal(60210L * 1024 * 1024, samples[0].MemoryUsedBytes);
        Assert.Equal(612.35, samples[0].PowerWatts);
        Assert.Equal(71, samples[0].TemperatureCelsius);
        Assert.Null(samples[1].Utilization);
        Assert.Null(samples[1].PowerWatts);
        Assert.Equal(0, samples[1].MemoryUsedBytes);
    }

    [Fact]
    public void Read_OnThisMachine_FindsCpuAndMemory()
    {
        var sample = NodeTelemetry.Read();
        Assert.NotNull(sample.Cpu);
        Assert.True(sample.MemoryTotalBytes > 0);
        Assert.InRange(sample.MemoryAvailableBytes!.Value, 0, sample.MemoryTotalBytes!.Value);
    }
}

public sealed class LogRotationTests
{
    [Fact]
    public async Task Enforce_OverTheLimit_MovesContentAsideAndAppendsContinueFromEmpty()
    {
        var directory = Directory.CreateTempSubdirectory("stratum-logs-");
        try
        {
            // A writer like a replica's: a shell whose stdout was opened for appending (O_APPEND).
            var path = Path.Combine(directory.FullName, "stdout.log");
            var go = Path.Combine(directory.FullName, "go");
            using var writer = System.Diagnostics.Process.Start("/bin/sh",
                ["-c", "exec >>\"$1\"; printf '%2000s' ''; while [ ! -f \"$2\" ]; do sleep 0.05; done; echo after", "sh", path, go])!;
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while ((!File.Exists(path) || new FileInfo(path).Length < 2000) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            Assert.False(LogRotation.Enforce(path, 4000));
            Assert.True(LogRotation.Enforce(path, 1000));
            Assert.Equal(2000, new FileInfo(path + LogRotation.RotatedSuffix).Length);
            Assert.Equal(0, new FileInfo(path).Length);

            await File.WriteAllTextAsync(go, "");
            await writer.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal("after\n", await File.ReadAllTextAsync(path));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Enforce_MissingFile_DoesNothing() =>
        Assert.False(LogRotation.Enforce(Path.Combine(Path.GetTempPath(), "no-such-" + Guid.NewGuid().ToString("N")), 1));
}
