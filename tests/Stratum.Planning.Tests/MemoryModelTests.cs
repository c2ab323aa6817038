namespace Stratum.Planning.Tests;

public sealed class MemoryModelTests
{
    [Theory]
    [InlineData(0, 120.0)]
    [InlineData(1, 31.4)]
    [InlineData(2, 16.6)]
    [InlineData(3, 1.9)]
    public void ModelStates_ZeroPaperExample_MatchesPublished(int stage, double publishedGb)
    {
        // Rajbhandari et al. 2020, Figure 1: 7.5B parameters, data parallel 64, mixed-precision Adam.
        var (weights, gradients, optimizer) = MemoryModel.ModelStates(7.5e9, 1, 1, 64, stage);

        Assert.Equal(publishedGb, (weights + gradients + optimizer) / 1e9, 0.05 * publishedGb);
    }

    [Fact]
    public void ActivationBytesPerLayer_NoRecompute_IsKorthikantiFormula()
    {
        // sbh(34 + 5as/h) for GPT-3 175B (s 2048, b 1, h 12288, a 96): 2048·12288·(34 + 80) bytes.
        var bytes = MemoryModel.ActivationBytesPerLayer(2048, 1, 12288, 96, 1, Recompute.None);

        Assert.Equal(2_868_903_936, bytes);
    }

    [Fact]
    public void ActivationBytesPerLayer_RecomputeAndTensorParallel_Shrink()
    {
        var none = MemoryModel.ActivationBytesPerLayer(2048, 1, 12288, 96, 1, Recompute.None);
        var selective = MemoryModel.ActivationBytesPerLayer(2048, 1, 12288, 96, 1, Recompute.Selective);
        var full = MemoryModel.ActivationBytesPerLayer(2048, 1, 12288, 96, 1, Recompute.Full);
        var selectiveTp8 = MemoryModel.ActivationBytesPerLayer(2048, 1, 12288, 96, 8, Recompute.Selective);

        Assert.Equal(2048.0 * 12288 * 34, selective);
        Assert.Equal(2048.0 * 12288 * 2, full);
        Assert.True(none > selective && selective > full);
        Assert.Equal(selective / 8, selectiveTp8);
    }
}
