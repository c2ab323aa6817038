namespace Stratum.Scheduling.Tests;

public sealed class SchedulingPoliciesTests
{
    [Fact]
    public void Names_ListsLivePolicies()
    {
        Assert.Equal(["default", "fifo", "las", "priority"], SchedulingPolicies.Names);
    }

    [Theory]
    [InlineData("priority")]
    [InlineData("default")]
    public void Create_KnownName_ReturnsThePriorityPolicy(string name)
    {
        var policy = SchedulingPolicies.Create(name);

        Assert.IsType<PriorityPolicy>(policy);
        Assert.Equal("priority", policy.Name);
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
        Assert.StartsWith($"unknown scheduling policy '{name}'; known policies: default, fifo, las, priority", error.Message);
        Assert.False(SchedulingPolicies.IsKnown(name));
    }
}
