namespace Stratum.Planning.Tests;

public sealed class ServingPlannerTests
{
    private readonly ServingPlanner _planner = new(Make.Catalog);

    [Fact]
    public void Plan_Llama2_70B_KvCacheMatchesArchitecture()
    {
        var plan = Plan(Make.Serve());

        // 2 (K and V) x 80 layers x 8 KV heads x 128 x 2 bytes = 327,680 bytes a token; 2,000 tokens a sequence.
        Assert.Equal(327_680 * 2000 / 1e9, plan.KvCacheGbPerSequence, 0.001);
        Assert.Equal(140, plan.WeightsGb, 0.1);
        Assert.Equal(8, plan.GpusNeeded);
        Assert.True(plan.MaxConcurrency > 100);
        Assert.True(plan.OutputTokensPerSecond > 0 && double.IsFinite(plan.OutputTokensPerSecond));
    }

    [Fact]
    public void Plan_Fp8_HalvesWeightsAndRaisesThroughput()
    {
        var bf16 = Plan(Make.Serve());
        var fp8 = Plan(Make.Serve(precision: Precision.Fp8));

        Assert.Equal(bf16.WeightsGb / 2, fp8.WeightsGb, 0.1);
        Assert.True(fp8.OutputTokensPerSecond > bf16.OutputTokensPerSecond);
    }

    [Fact]
    public void Plan_RequestsPerSecond_AddsReplicas()
    {
        var one = Plan(Make.Serve());
        var many = Plan(Make.Serve() with { RequestsPerSecond = one.RequestsPerSecondPerReplica * 3.5 });

        Assert.Equal(4, many.Replicas);
        Assert.Equal(32, many.GpusNeeded);
    }

    [Fact]
    public void Plan_TimePerTokenTarget_LowersConcurrency()
    {
        var free = Plan(Make.Serve());
        var bounded = Plan(Make.Serve() with { TimePerOutputTokenMs = free.TimePerOutputTokenMs / 2 });

        Assert.True(bounded.Concurrency < free.Concurrency);
        Assert.True(bounded.TimePerOutputTokenMs <= free.TimePerOutputTokenMs / 2 || !bounded.MeetsLatencyTargets);
    }

    [Fact]
    public void Plan_WithoutGpus_PicksFewestThatHoldTheModel()
    {
        var plan = Plan(Make.Serve(gpus: null));

        // 140 GB of bf16 weights and one 2,000-token KV cache fit in 2 x 72 GB usable, not in one.
        Assert.Equal(2, plan.GpusPerReplica);
    }

    [Fact]
    public void Plan_ModelTooLarge_SaysHowManyGpusItNeeds()
    {
        var result = _planner.Plan(Make.Serve(model: new ModelSpec { Parameters = 1e12 }, gpus: 2));

        Assert.False(result.Succeeded);
        Assert.Contains("at least", result.Errors[0].Message);
    }

    [Fact]
    public void Plan_BadInput_IsRejected()
    {
        var result = _planner.Plan(Make.Serve() with { InputTokens = 0, OutputTokens = -5, Gpus = 0 });

        Assert.Equal(3, result.Errors.Count);
    }

    private ServingPlan Plan(ServingRequest request)
    {
        var result = _planner.Plan(request);
        Assert.True(result.Succeeded, string.Join("; ", result.Errors));
        return result.Plan!;
    }
}

public sealed class GpuHoursPlannerTests
{
    [Fact]
    public void Plan_Deadline_PicksServersThatFinishInTime()
    {
        var plan = new GpuHoursPlanner(Make.Catalog).Plan(new GpuHoursRequest { Gpu = "nvidia-h100-sxm", GpuHours = 100_000, DeadlineDays = 30 }).Plan!;

        Assert.True(plan.WallClockDays <= 30);
        Assert.Equal(0, plan.Gpus % 8);
        Assert.True(plan.Gpus - 8 < 100_000 / (30 * 24.0));
        var onDemand = plan.Costs.First(c => c.Option == "cloud on-demand" && c.Provider == "aws");
        Assert.Equal(100_000 / 8.0 * 98.32, onDemand.TotalUsd, onDemand.TotalUsd * 0.01);
    }

    [Fact]
    public void Plan_ZeroHours_IsRejected()
    {
        var result = new GpuHoursPlanner(Make.Catalog).Plan(new GpuHoursRequest { Gpu = "nvidia-h100-sxm", GpuHours = 0 });

        Assert.Equal("hours", Assert.Single(result.Errors).Field);
    }
}
