namespace Stratum.Planning.Tests;

public sealed class TrainingPlannerTests
{
    private readonly TrainingPlanner _planner = new(Make.Catalog);

    [Fact]
    public void Plan_Gpt3OnH100_GivesFiniteConsistentAnswer()
    {
        var plan = Make.Plan(Make.Train());

        Assert.Equal(512, plan.Gpus);
        Assert.Equal(plan.Layout.Tensor * plan.Layout.Pipeline * plan.Layout.Data, plan.Gpus);
        Assert.InRange(plan.Mfu, 0.2, 0.7);
        Assert.Equal(plan.GpuHours, plan.WallClockDays * 24 * plan.Gpus, plan.GpuHours * 0.01);
        Assert.True(plan.MemoryPerGpuGb <= plan.GpuMemoryGb);
        Assert.Equal(300e9 * plan.FlopsPerToken, plan.TotalFlops, plan.TotalFlops * 0.001);
        Assert.NotEmpty(plan.Working.Formulas);
        Assert.NotEmpty(plan.Working.Assumptions);
    }

    [Fact]
    public void Plan_Costs_ListOnPremAndCloudOptionsCheapestFirst()
    {
        var plan = Make.Plan(Make.Train());

        Assert.Contains(plan.Costs, c => c.Option == "on-prem amortised");
        Assert.Contains(plan.Costs, c => c.Option == "cloud on-demand");
        Assert.Contains(plan.Costs, c => c.Option == "cloud spot");
        Assert.Equal(plan.Costs.OrderBy(c => c.TotalUsd).Select(c => c.TotalUsd), plan.Costs.Select(c => c.TotalUsd));
        Assert.All(plan.Costs, c => Assert.True(double.IsFinite(c.TotalUsd) && c.TotalUsd > 0));
        var spot = plan.Costs.First(c => c.Option == "cloud spot");
        Assert.True(spot.WallClockDays >= plan.WallClockDays);
    }

    [Fact]
    public void Plan_Deadline_FindsGpusThatMeetIt()
    {
        var plan = Make.Plan(Make.Train(gpus: null, deadline: 30));

        Assert.True(plan.WallClockDays <= 30, $"{plan.WallClockDays} days");
        var fewer = _planner.Plan(Make.Train(gpus: plan.Gpus / 2));
        Assert.True(fewer.Plan is null || fewer.Plan.WallClockDays > 30);
        Assert.NotNull(plan.Cheapest);
        Assert.True(plan.Cheapest.MeetsDeadline);
    }

    [Fact]
    public void Plan_DeadlineNothingMeets_ExplainsWithoutNaN()
    {
        var result = _planner.Plan(Make.Train(tokens: 15e12, gpus: null, deadline: 0.5));

        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors);
        Assert.Equal("deadline", error.Field);
        Assert.Contains("fastest", error.Message);
        Assert.DoesNotContain("NaN", error.Message);
        Assert.DoesNotContain("∞", error.Message);
    }

    [Fact]
    public void Plan_ModelFitsNoLayout_SaysWhatItNeeds()
    {
        var result = _planner.Plan(Make.Train(model: new ModelSpec { Parameters = 10e12 }, gpu: "nvidia-l40s", gpus: 8));

        Assert.False(result.Succeeded);
        Assert.Contains("does not fit", result.Errors[0].Message);
        Assert.Contains("GB per GPU", result.Errors[0].Message);
    }

    [Fact]
    public void Plan_UnknownGpu_ListsKnownOnes()
    {
        var result = _planner.Plan(Make.Train(gpu: "rtx-9090"));

        Assert.Equal("gpu", Assert.Single(result.Errors).Field);
        Assert.Contains("nvidia-b200", result.Errors[0].Message);
    }

    [Theory]
    [InlineData(-1, 300e9)]
    [InlineData(0, 300e9)]
    [InlineData(double.NaN, 300e9)]
    [InlineData(175e9, 0)]
    [InlineData(175e9, double.PositiveInfinity)]
    public void Plan_NonPositiveOrNonFiniteInput_IsRejected(double parameters, double tokens)
    {
        var result = _planner.Plan(Make.Train(model: new ModelSpec { Parameters = parameters }, tokens: tokens));

        Assert.False(result.Succeeded);
        Assert.NotEmpty(result.Errors);
    }

    [Fact]
    public void Plan_BothOrNeitherGpusAndDeadline_IsRejected()
    {
        Assert.Contains(_planner.Plan(Make.Train(gpus: 8, deadline: 10)).Errors, e => e.Field == "gpus");
        Assert.Contains(_planner.Plan(Make.Train(gpus: null, deadline: null)).Errors, e => e.Field == "gpus");
    }

    [Fact]
    public void Plan_Fp8OnH100_IsFasterThanBf16ButNotTwice()
    {
        var bf16 = Make.Plan(Make.Train());
        var fp8 = Make.Plan(Make.Train() with { Precision = Precision.Fp8 });

        var speedup = bf16.WallClockDays / fp8.WallClockDays;
        Assert.InRange(speedup, 1.1, 1.9);
    }

    [Fact]
    public void Plan_Fp8OnA100_WarnsAndPlansAtBf16()
    {
        var bf16 = Make.Plan(Make.Train(gpu: "nvidia-a100-80gb"));
        var fp8 = Make.Plan(Make.Train(gpu: "nvidia-a100-80gb") with { Precision = Precision.Fp8 });

        Assert.Contains(fp8.Working.Warnings, w => w.Contains("no FP8", StringComparison.Ordinal));
        Assert.Equal(bf16.WallClockDays, fp8.WallClockDays);
    }

    [Fact]
    public void Plan_MixtureOfExperts_ComputesFromActiveParameters()
    {
        var dense = Make.Plan(Make.Train(model: new ModelSpec { Parameters = 37e9 }, tokens: 1e12, gpu: "nvidia-h200", gpus: 2048));
        var moe = Make.Plan(Make.Train(model: new ModelSpec { Parameters = 671e9, ActiveParameters = 37e9 }, tokens: 1e12, gpu: "nvidia-h200", gpus: 2048));

        Assert.Equal(dense.FlopsPerToken, moe.FlopsPerToken, dense.FlopsPerToken * 0.01);
        Assert.True(moe.Storage.CheckpointTb > 10 * dense.Storage.CheckpointTb);
    }

    [Fact]
    public void Plan_Lora_NeedsLessMemoryAndComputeThanFullFineTune()
    {
        var model = new ModelSpec { Parameters = 7e9 };
        var full = Make.Plan(Make.Train(model: model, tokens: 1e9, gpus: 8) with { Method = TrainingMethod.FullFineTune, TensorParallel = 1, PipelineParallel = 1 });
        var lora = Make.Plan(Make.Train(model: model, tokens: 1e9, gpus: 8) with { Method = TrainingMethod.Lora, TensorParallel = 1, PipelineParallel = 1 });

        Assert.True(lora.MemoryPerGpuGb < full.MemoryPerGpuGb);
        Assert.True(lora.TotalFlops < full.TotalFlops);
        Assert.True(lora.Storage.CheckpointTb < full.Storage.CheckpointTb / 100);
    }

    [Fact]
    public void Plan_SlowNetwork_IsReportedAsBottleneck()
    {
        var plan = Make.Plan(Make.Train(model: new ModelSpec { Parameters = 7e9 }, gpus: 256) with { InterNodeGBpsPerGpu = 0.5, TensorParallel = 1, PipelineParallel = 1 });

        Assert.True(plan.Step.NetworkBound);
        Assert.Contains(plan.Working.Warnings, w => w.Contains("network", StringComparison.Ordinal));
    }

    [Fact]
    public void Plan_StorageAndPower_ScaleWithTheRun()
    {
        var plan = Make.Plan(Make.Train());

        Assert.Equal(174.6e9 * 14 / 1e12, plan.Storage.CheckpointTb, 0.01);
        Assert.Equal(300e9 * 4 / 1e12, plan.Storage.DatasetTb, 0.01);
        Assert.True(plan.Storage.CheckpointWriteGBps > 0);
        Assert.Equal(512 / 8, plan.Power.Servers);
        Assert.True(plan.Power.Racks >= 1 && plan.Power.EnergyMwh > 0 && plan.Power.Co2Tonnes > 0);
    }

    [Fact]
    public void Plan_AcrossAGridOfInputs_NeverReturnsNonFiniteNumbers()
    {
        foreach (var gpu in Make.Catalog.AcceleratorNames)
        {
            foreach (var parameters in new[] { 1e8, 7e9, 70e9, 1e12 })
            {
                foreach (var gpus in new[] { 1, 8, 64, 4096 })
                {
                    var result = _planner.Plan(Make.Train(model: new ModelSpec { Parameters = parameters }, gpu: gpu, gpus: gpus, tokens: 1e11));
                    if (result.Plan is not { } plan)
                    {
                        Assert.NotEmpty(result.Errors);
                        continue;
                    }

                    Assert.True(double.IsFinite(plan.GpuHours) && plan.GpuHours > 0, $"{gpu} {parameters} {gpus}");
                    Assert.True(double.IsFinite(plan.Mfu) && plan.Mfu is > 0 and < 1, $"{gpu} {parameters} {gpus} mfu {plan.Mfu}");
                    Assert.True(double.IsFinite(plan.MemoryPerGpuGb));
                    Assert.All(plan.Costs, c => Assert.True(double.IsFinite(c.TotalUsd)));
                }
            }
        }
    }
}

public sealed class TrainingPlannerExtremeInputTests
{
    [Theory]
    [InlineData(1e30, 1e12, 50.0)]
    [InlineData(7e9, 1e30, 50.0)]
    [InlineData(7e9, 1e12, 1e-300)]
    public void Plan_ExtremeInput_ExplainsOrAnswersFinitely(double parameters, double tokens, double bandwidth)
    {
        var result = new TrainingPlanner(Make.Catalog).Plan(Make.Train(model: new ModelSpec { Parameters = parameters }, tokens: tokens, gpus: 64) with { InterNodeGBpsPerGpu = bandwidth });

        if (result.Plan is { } plan)
        {
            Assert.True(double.IsFinite(plan.WallClockDays) && double.IsFinite(plan.GpuHours));
        }
        else
        {
            Assert.NotEmpty(result.Errors);
            Assert.All(result.Errors, e => Assert.DoesNotContain("NaN", e.Message));
        }
    }
}

public sealed class TrainingPlannerDeadlineExtremeTests
{
    [Fact]
    public void Plan_DeadlineWithUselessNetwork_ExplainsWithoutInfinity()
    {
        var result = new TrainingPlanner(Make.Catalog).Plan(Make.Train(gpus: null, deadline: 10) with { InterNodeGBpsPerGpu = 1e-300 });

        Assert.False(result.Succeeded);
        Assert.All(result.Errors, e => Assert.DoesNotContain("∞", e.Message));
    }
}

public sealed class ExpertParallelTests
{
    private static readonly ModelSpec Mixtral = new() { Parameters = 46.7e9, ActiveParameters = 12.9e9, Layers = 32, Hidden = 4096, Heads = 32, KvHeads = 8, Vocabulary = 32_000 };

    private static TrainingRequest Request(int? ep, double overlap = 0) =>
        Make.Train(model: Mixtral, tokens: 1e12, gpu: "nvidia-h100-sxm", gpus: 256) with
        {
            TensorParallel = 2,
            PipelineParallel = 4,
            SequenceLength = 4096,
            ExpertParallel = ep,
            ExpertCopiesPerToken = 2,
            ExpertAllToAllOverlap = overlap,
        };

    [Fact]
    public void Plan_ExpertParallel_AllToAllBytesFollowTheFormula()
    {
        var plan = Make.Plan(Request(ep: 16));

        // 4 all-to-alls (dispatch + combine, forward + backward) x micro-batches x layers/p x s/t x h x top-2 x bf16 x (ep-1)/ep.
        var l = plan.Layout;
        var expected = 2.0 * l.MicroBatchesPerStep * (32.0 / l.Pipeline) * 4096 / l.Tensor * 4096 * 2 * (2 + 2) * 15 / 16 / 1e9;
        Assert.Equal(16, plan.Step.ExpertParallel);
        Assert.Equal(expected, plan.Step.ExpertAllToAllGbPerGpu, expected * 0.001);
    }

    [Fact]
    public void Plan_ExpertParallelAcrossServers_UsesTheScaleOutNetwork()
    {
        // t·ep = 2 x 16 spans four 8-GPU servers, so the exchange runs at 50 GB/s, not on NVLink.
        var across = Make.Plan(Request(ep: 16));
        var within = Make.Plan(Request(ep: 4));

        Assert.Equal(across.Step.ExpertAllToAllGbPerGpu / 50, across.Step.ExpertAllToAllSeconds, across.Step.ExpertAllToAllSeconds * 0.01);
        Assert.True(within.Step.ExpertAllToAllSeconds < within.Step.ExpertAllToAllGbPerGpu / 50);
        Assert.True(across.Step.StepSeconds > within.Step.StepSeconds);
    }

    [Fact]
    public void Plan_OverlappedAllToAll_IsNotExposed()
    {
        var exposed = Make.Plan(Request(ep: 16));
        var hidden = Make.Plan(Request(ep: 16, overlap: 1));

        Assert.Equal(0, hidden.Step.ExpertAllToAllExposedSeconds);
        Assert.Equal(exposed.Step.ExpertAllToAllSeconds, hidden.Step.ExpertAllToAllSeconds, 1e-9);
        Assert.True(hidden.GpuHours < exposed.GpuHours);
    }

    [Fact]
    public void Plan_ExpertParallel_ShardsExpertWeights()
    {
        var ep1 = Make.Plan(Request(ep: 1));
        var ep16 = Make.Plan(Request(ep: 16));

        Assert.True(ep16.Memory.WeightsGb < ep1.Memory.WeightsGb / 2);
        Assert.Equal(0, ep1.Step.ExpertAllToAllGbPerGpu);
    }

    [Fact]
    public void Plan_DenseModel_HasNoAllToAll()
    {
        var plan = Make.Plan(Make.Train());

        Assert.Equal(0, plan.Step.ExpertAllToAllSeconds);
        Assert.Equal(1, plan.Step.ExpertParallel);
    }

    [Theory]
    [InlineData(0, 2, 0.0, "expert-parallel")]
    [InlineData(8, 0, 0.0, "expert-copies")]
    [InlineData(8, 2, 1.5, "expert-overlap")]
    [InlineData(8, 2, double.NaN, "expert-overlap")]
    public void Plan_BadExpertSettings_NameTheField(int ep, int copies, double overlap, string field)
    {
        var result = new TrainingPlanner(Make.Catalog).Plan(Request(ep) with { ExpertCopiesPerToken = copies, ExpertAllToAllOverlap = overlap });

        Assert.Equal(field, Assert.Single(result.Errors).Field);
    }
}
