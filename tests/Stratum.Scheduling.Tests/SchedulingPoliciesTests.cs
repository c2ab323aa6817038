namespace Stratum.Scheduling.Tests;

public sealed class SchedulingPoliciesTests
{
    [Fact]
    public void Names_ListsLivePolicies()
    {
        Assert.Equal(["backfill", "default", "fair-share", "fifo", "las", "las-fine", "las-fine-q5m", "las-g4", "las-q5m", "planning", "priority"], SchedulingPolicies.Names);
    }

    [Fact]
    public void Create_Priority_ReturnsThePriorityPolicy()
    {
        var policy = SchedulingPolicies.Create("priority");

        Assert.IsType<PriorityPolicy>(policy);
        Assert.Equal("priority", policy.Name);
    }

    [Theory]
    [InlineData("default", true, true)]
    [InlineData("backfill", true, false)]
    [InlineData("fair-share", false, true)]
    [InlineData("planning", true, true)]
    public void Create_PlanningName_ReturnsAPlanningPolicyWithItsOptions(string name, bool backfill, bool fairShare)
    {
        var policy = Assert.IsType<PlanningPolicy>(SchedulingPolicies.Create(name));

        Assert.Equal(name, policy.Name);
        Assert.Equal(backfill, policy.Options.Backfill);
        Assert.Equal(fairShare, policy.Options.FairShare);
        Assert.Equal(fairShare, policy.Options.AgingBound is not null);
        Assert.True(SchedulingPolicies.IsKnown(name));
    }

    [Theory]
    [InlineData("round-robin")]
    [InlineData("Priority")]
    [InlineData("")]
    public void Create_UnknownName_ThrowsNamingItAndTheKnownOnes(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => SchedulingPolicies.Create(name));

        Assert.Equal("name", error.ParamName);
        Assert.StartsWith($"unknown scheduling policy '{name}'; known policies: backfill, default, fair-share, fifo, las, las-fine, las-fine-q5m, las-g4, las-q5m, planning, priority", error.Message);
        Assert.False(SchedulingPolicies.IsKnown(name));
    }

    [Fact]
    public void Create_LasPreset_RunsLiveUnderItsOwnName()
    {
        var policy = SchedulingPolicies.Create("las-fine-q5m");

        Assert.Equal("las-fine-q5m", policy.Name);
        Assert.Null(SchedulingPolicies.WhyNotLive("las-fine-q5m"));
    }
}
