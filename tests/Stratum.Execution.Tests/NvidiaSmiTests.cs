using Stratum.Core;

namespace Stratum.Execution.Tests;

public sealed class NvidiaSmiTests
{
    [Fact]
    public void ParseInventory_EightH100Box_EightDevicesInIndexOrder()
    {
        var inventory = NvidiaSmi.ParseInventory(Fixture("nvidia-smi-8xh100.csv"));

        Assert.Empty(inventory.Skipped);
        Assert.Equal(Enumerable.Range(0, 8), inventory.Devices.Select(d => d.Index));
        Assert.All(inventory.Devices, d =>
        {
            Assert.Equal("nvidia-h100", d.Type);
            Assert.Equal("NVIDIA H100 80GB HBM3", d.Model);
            Assert.Equal(81559L * 1024 * 1024, d.MemoryBytes);
            Assert.StartsWith("GPU-", d.Uuid);
        });
        Assert.Equal("GPU-3f1c2a9e-8b7d-4c6e-a5f4-1e2d3c4b5a69", inventory.Devices[0].Uuid);
        Assert.Equal(8, inventory.Devices.Select(d => d.Uuid).Distinct().Count());
    }

    [Fact]
    public void ParseInventory_MixedA100Box_TypesCarryMemorySize()
    {
        var inventory = NvidiaSmi.ParseInventory(Fixture("nvidia-smi-mixed-a100.csv"));

        Assert.Empty(inventory.Skipped);
        Assert.Equal(["nvidia-a100-80gb", "nvidia-a100-80gb", "nvidia-a100-40gb", "nvidia-a100-40gb"], inventory.Devices.Select(d => d.Type));
        Assert.Equal(40536L << 20, inventory.Devices[3].MemoryBytes);
    }

    [Fact]
    public void ParseInventory_MalformedLines_SkippedWithReasons()
    {
        var inventory = NvidiaSmi.ParseInventory(Fixture("nvidia-smi-malformed.csv"));

        Assert.Equal([0, 4], inventory.Devices.Select(d => d.Index));
        Assert.Equal("nvidia-l40s", inventory.Devices[0].Type);
        Assert.Equal(46068L << 20, inventory.Devices[0].MemoryBytes);
        Assert.Null(inventory.Devices[1].Uuid);
        Assert.Equal("nvidia-v100-32gb", inventory.Devices[1].Type);
        Assert.Collection(
            inventory.Skipped,
            s => Assert.Contains("line 2: expected 4 comma-separated fields", s),
            s => Assert.Contains("line 3: index 'x' is not a number", s),
            s => Assert.Contains("line 4: memory.total '[N/A]'", s),
            s => Assert.Contains("line 5: expected 4", s),
            s => Assert.Contains("line 6: index 0 appears twice", s));
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    public void ParseInventory_NoOutput_NoDevicesNoProblems(string output)
    {
        var inventory = NvidiaSmi.ParseInventory(output);

        Assert.Empty(inventory.Devices);
        Assert.Empty(inventory.Skipped);
    }

    [Fact]
    public void ParseInventory_WindowsLineEndingsAndNamesWithCommas_Parsed()
    {
        var inventory = NvidiaSmi.ParseInventory("0, GPU-a, NVIDIA Odd, Board, 1024 MiB\r\n1, GPU-b, NVIDIA H200, 143771 MiB\r\n");

        Assert.Empty(inventory.Skipped);
        Assert.Equal("NVIDIA Odd, Board", inventory.Devices[0].Model);
        Assert.Equal("nvidia-odd-board", inventory.Devices[0].Type);
        Assert.Equal("nvidia-h200", inventory.Devices[1].Type);
    }

    [Theory]
    [InlineData("NVIDIA H100 80GB HBM3", 0, "nvidia-h100")]
    [InlineData("NVIDIA H100 PCIe", 0, "nvidia-h100")]
    [InlineData("NVIDIA A100-SXM4-80GB", 0, "nvidia-a100-80gb")]
    [InlineData("NVIDIA A100-SXM4-40GB", 0, "nvidia-a100-40gb")]
    [InlineData("NVIDIA A100 80GB PCIe", 0, "nvidia-a100-80gb")]
    [InlineData("NVIDIA A100", 42505076736L, "nvidia-a100-40gb")]
    [InlineData("NVIDIA H200", 0, "nvidia-h200")]
    [InlineData("NVIDIA L40S", 0, "nvidia-l40s")]
    [InlineData("NVIDIA A10G", 0, "nvidia-a10g")]
    [InlineData("Tesla V100-SXM2-32GB", 0, "nvidia-v100-32gb")]
    [InlineData("Tesla T4", 0, "nvidia-t4")]
    [InlineData("NVIDIA GeForce RTX 4090", 0, "nvidia-geforce-rtx-4090")]
    [InlineData("NVIDIA RTX A6000", 0, "nvidia-rtx-a6000")]
    [InlineData("Quadro RTX 8000 (TM)", 0, "nvidia-quadro-rtx-8000-tm")]
    [InlineData("   ", 0, "nvidia-gpu")]
    public void NormaliseType_KnownAndUnknownModels_GivesValidName(string model, long memoryBytes, string expected)
    {
        var type = NvidiaSmi.NormaliseType(model, memoryBytes);

        Assert.Equal(expected, type);
        Assert.True(Names.IsValid(type), Names.Problem(type));
    }

    [Fact]
    public void NormaliseType_VeryLongName_TruncatedToValidName()
    {
        var type = NvidiaSmi.NormaliseType("Some Vendor " + string.Join(' ', Enumerable.Repeat("Board-Revision", 10)));

        Assert.True(Names.IsValid(type), Names.Problem(type));
        Assert.StartsWith("nvidia-some-vendor-board-revision", type);
    }

    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));
}
