using Stratum.Core.Cluster;
using Stratum.Core.Resources;

namespace Stratum.Core.Tests;

public sealed class ResourceVectorTests
{
    private static ResourceVector Gpus(string type, int count, double cpus = 8, long memoryGi = 64) =>
        ResourceVector.Of(cpus, memoryGi << 30, type, count);

    [Fact]
    public void Add_ThenSubtract_GivesBackTheOriginal()
    {
        var a = Gpus("nvidia-h100", 4);
        var b = Gpus("amd-mi300x", 2, cpus: 2.5);
        Assert.Equal(a, a.Add(b).Subtract(b));
        Assert.Equal(6, a.Add(b).AcceleratorCount);
    }

    [Fact]
    public void Subtract_ToZero_DropsTheAcceleratorType()
    {
        var a = Gpus("nvidia-h100", 4);
        var zero = a.Subtract(a);
        Assert.True(zero.IsZero);
        Assert.Empty(zero.Accelerators);
    }

    [Fact]
    public void FitsIn_ChecksEveryDimensionAndType()
    {
        var node = Gpus("nvidia-h100", 8, cpus: 64, memoryGi: 512);
        Assert.True(Gpus("nvidia-h100", 8).FitsIn(node));
        Assert.False(Gpus("nvidia-h100", 9).FitsIn(node));
        Assert.False(Gpus("nvidia-a100-80gb", 1).FitsIn(node));
        Assert.False(ResourceVector.Of(cpus: 65).FitsIn(node));
        Assert.False(ResourceVector.Of(memoryBytes: 513L << 30).FitsIn(node));
    }

    [Fact]
    public void Shortfalls_NameEachMissingDimension()
    {
        var node = Gpus("nvidia-h100", 2, cpus: 4, memoryGi: 8);
        var shortfalls = Gpus("nvidia-h100", 4, cpus: 8, memoryGi: 4).Shortfalls(node);
        Assert.Equal(["cpu 8 > 4", "nvidia-h100 4 > 2"], shortfalls);
    }

    [Fact]
    public void DominantShare_IsTheLargestFraction()
    {
        var total = Gpus("nvidia-h100", 8, cpus: 100, memoryGi: 1000);
        Assert.Equal(0.5, Gpus("nvidia-h100", 4, cpus: 10, memoryGi: 10).DominantShare(total), 6);
        Assert.Equal(0.2, ResourceVector.Of(cpus: 20, memoryBytes: 10L << 30).DominantShare(total), 6);
    }

    [Fact]
    public void Equality_IgnoresInsertionOrderOfTypes()
    {
        var a = new ResourceVector(1000, 1, [new("b", 1), new("a", 2)]);
        var b = new ResourceVector(1000, 1, [new("a", 2), new("b", 1)]);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.Equal("cpu 1, memory 1, a 2, b 1", a.ToString());
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.True(a != ResourceVector.Of(cpus: 2));
    }

    [Fact]
    public void Multiply_ScalesEveryDimension()
    {
        Assert.Equal(Gpus("nvidia-h100", 12, cpus: 24, memoryGi: 192), Gpus("nvidia-h100", 4, cpus: 8, memoryGi: 64).Multiply(3));
    }
}

public sealed class QuantityTests
{
    [Theory]
    [InlineData("2", 2000)]
    [InlineData("0.5", 500)]
    [InlineData("250m", 250)]
    [InlineData(" 4 ", 4000)]
    public void TryParseCpu_Valid(string text, long millis)
    {
        Assert.True(Quantity.TryParseCpu(text, out var parsed));
        Assert.Equal(millis, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("two")]
    [InlineData("1e9")]
    [InlineData("200000")]
    public void TryParseCpu_Invalid(string text) => Assert.False(Quantity.TryParseCpu(text, out _));

    [Theory]
    [InlineData("4Gi", 4L << 30)]
    [InlineData("512Mi", 512L << 20)]
    [InlineData("10G", 10_000_000_000)]
    [InlineData("1.5Ki", 1536)]
    [InlineData("123", 123)]
    public void TryParseMemory_Valid(string text, long bytes)
    {
        Assert.True(Quantity.TryParseMemory(text, out var parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("-4Gi")]
    [InlineData("2Pi")]
    [InlineData("4Gb")]
    public void TryParseMemory_Invalid(string text) => Assert.False(Quantity.TryParseMemory(text, out _));

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("2h", 7200)]
    [InlineData("1h30m", 5400)]
    [InlineData("1d", 86400)]
    [InlineData("45", 45)]
    public void TryParseDuration_Valid(string text, int seconds)
    {
        Assert.True(Quantity.TryParseDuration(text, out var parsed));
        Assert.Equal(TimeSpan.FromSeconds(seconds), parsed);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("2 hours")]
    [InlineData("h")]
    [InlineData("")]
    public void TryParseDuration_Invalid(string text) => Assert.False(Quantity.TryParseDuration(text, out _));

    [Theory]
    [InlineData(4L << 30, "4Gi")]
    [InlineData(1536L << 20, "1.5Gi")]
    [InlineData(100, "100")]
    public void FormatMemory_ReadsLikeInput(long bytes, string text) => Assert.Equal(text, Quantity.FormatMemory(bytes));

    [Theory]
    [InlineData(59, "59s")]
    [InlineData(192, "3m12s")]
    [InlineData(7200, "2h")]
    [InlineData(90000, "1d1h")]
    public void FormatDuration_IsShort(int seconds, string text) => Assert.Equal(text, Quantity.FormatDuration(TimeSpan.FromSeconds(seconds)));
}

public sealed class QuotaTests
{
    [Fact]
    public void Exceeded_ReportsGpuUsageOfLimit()
    {
        var quota = new Quota { Accelerators = 8 };
        var used = ResourceVector.Of(16, 0, "nvidia-h100", 8);
        var problems = quota.Exceeded(used, ResourceVector.Of(1, 0, "nvidia-h100", 4));
        Assert.Equal(["gpu 8/8 (+4 requested)"], problems);
    }

    [Fact]
    public void Exceeded_WithinEveryLimit_IsEmpty()
    {
        var quota = new Quota { CpuMillis = 4000, MemoryBytes = 8L << 30, Accelerators = 2, AcceleratorsByType = new Dictionary<string, int> { ["nvidia-h100"] = 1 } };
        Assert.Empty(quota.Exceeded(ResourceVector.Zero, ResourceVector.Of(4, 8L << 30, "nvidia-h100", 1)));
        Assert.Single(quota.Exceeded(ResourceVector.Zero, ResourceVector.Of(4, 8L << 30, "nvidia-h100", 2)), p => p.StartsWith("nvidia-h100 0/1", StringComparison.Ordinal));
    }

    [Fact]
    public void Unlimited_NeverExceeded() =>
        Assert.Empty(Quota.Unlimited.Exceeded(ResourceVector.Of(1e4, 1L << 45), ResourceVector.Of(1e4, 1L << 45, "x", 1000)));
}
