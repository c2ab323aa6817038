namespace Stratum.Planning.Tests;

/// <summary>
/// The planner against published runs (docs/planning.md has the table). Each case carries a bound on
/// its error wide enough for what the model leaves out and narrow enough to catch a broken formula; a
/// calibration case must sit within 5% because the catalog was set from it.
/// </summary>
public sealed class ValidationTests
{
    private static readonly IReadOnlyList<ValidationCase> Cases = Validation.Run(Make.Catalog);

    public static TheoryData<string, string, double> Bounds => new()
    {
        { "BLOOM-176B", "GPU-hours", 0.25 },
        { "BLOOM-176B", "wall clock days", 0.25 },
        { "BLOOM-176B", "checkpoint TB", 0.10 },
        { "OPT-175B", "TFLOP/s per GPU", 0.20 },
        { "GPT-3 175B", "training FLOPs (6ND + attention)", 0.05 },
        { "Llama 3 405B", "BF16 MFU at 8,192 GPUs", 0.05 },
        { "Llama 3 405B", "BF16 MFU at 16,384 GPUs", 0.15 },
        { "Llama 3 405B", "H100 GPU-hours", 0.30 },
        { "Llama 2 70B", "A100 GPU-hours", 0.25 },
        { "LLaMA 65B", "A100 GPU-hours", 0.25 },
        { "DeepSeek-V3 671B MoE", "H800 GPU-hours", 0.20 },
        { "Megatron-LM 1T", "TFLOP/s per GPU incl. recompute", 0.05 },
        { "ZeRO 7.5B, DP 64", "model-state GB, stage 0", 0.02 },
        { "ZeRO 7.5B, DP 64", "model-state GB, stage 1", 0.02 },
        { "ZeRO 7.5B, DP 64", "model-state GB, stage 2", 0.02 },
        { "ZeRO 7.5B, DP 64", "model-state GB, stage 3", 0.02 },
        { "Llama 3.3 70B serving", "2 x H100 FP8, 5000/500, concurrency 1: ms per output token", 0.30 },
        { "Llama 3.3 70B serving", "2 x H100 FP8, 5000/500, concurrency 1: ms to first token", 0.30 },
        { "Llama 3.3 70B serving", "2 x H100 FP8, 5000/500, concurrency 50: output tokens/s", 0.30 },
        { "Llama 2 70B serving", "1 x H200 FP8, 2048/2048, batch 64: output tokens/s", 0.30 },
        { "Llama 2 70B serving", "1 x H200 FP8, 2048/128, batch 64: output tokens/s", 0.30 },

        // TensorRT-LLM 0.5 (2023) ran TP4 decode about 3x slower than HBM bandwidth allows; kept as published, with
        // its error, so that a change which makes it worse still fails (docs/planning.md explains the gap).
        { "Llama 2 70B serving", "4 x H100 FP8, 2048/2048, batch 64: output tokens/s (TRT-LLM 0.5)", 2.2 },
    };

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Run_PublishedCase_ErrorWithinBound(string name, string quantity, double bound)
    {
        var found = Cases.Single(c => c.Name == name && c.Quantity == quantity);

        Assert.True(double.IsFinite(found.Predicted) && found.Predicted > 0);
        Assert.True(found.AbsoluteError <= bound, $"{name} {quantity}: predicted {found.Predicted}, published {found.Published}, error {found.Error:P1} > {bound:P0}");
    }

    [Fact]
    public void Run_EveryCase_HasABound()
    {
        var bounded = Bounds.Select(row => ((string)row[0], (string)row[1])).ToHashSet();

        Assert.All(Cases, c => Assert.Contains((c.Name, c.Quantity), bounded));
    }

    [Fact]
    public void Run_CalibrationCases_AreFewAndMarked()
    {
        // Only the two efficiency calibrations may be fitted; everything else is a prediction.
        Assert.Equal(2, Cases.Count(c => c.Calibration));
        Assert.True(Cases.Count(c => c.Kind == "prediction") >= 8);
        Assert.True(Cases.Count(c => c.Kind == "prediction" && c.Name.EndsWith("serving", StringComparison.Ordinal)) >= 3);
    }
}
