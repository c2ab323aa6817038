using Stratum.Core.Access;
using Stratum.Core.Cluster;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Persistence.Tests;

/// <summary>
/// Member-by-member comparison of what went into a store with what came out. Records holding lists or
/// dictionaries compare those by reference, so record equality would not do. Instants are compared at
/// millisecond precision, which is what stores keep.
/// </summary>
internal static class Same
{
    public static void Job(Job expected, Job actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Spec(expected.Spec, actual.Spec);
        Assert.Equal(expected.Owner, actual.Owner);
        Assert.Equal(expected.State, actual.State);
        Assert.Equal(expected.Reason, actual.Reason);
        Assert.Equal(Make.Ms(expected.SubmittedAt), actual.SubmittedAt);
        Assert.Equal(Make.Ms(expected.UpdatedAt), actual.UpdatedAt);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.FailedAttempts, actual.FailedAttempts);
        Assert.Equal(expected.Attempts.Count, actual.Attempts.Count);
        for (var i = 0; i < expected.Attempts.Count; i++)
        {
            Attempt(expected.Attempts[i], actual.Attempts[i]);
        }

        if (expected.Stop is null)
        {
            Assert.Null(actual.Stop);
        }
        else
        {
            Assert.NotNull(actual.Stop);
            Assert.Equal(expected.Stop with { RequestedAt = Make.Ms(expected.Stop.RequestedAt) }, actual.Stop);
        }
    }

    public static void Spec(JobSpec expected, JobSpec actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Project, actual.Project);
        Assert.Equal(expected.Command, actual.Command);
        Dictionary(expected.Environment, actual.Environment);
        Assert.Equal(expected.WorkingDirectory, actual.WorkingDirectory);
        Resources(expected.Resources, actual.Resources);
        Assert.Equal(expected.Replicas, actual.Replicas);
        Assert.Equal(expected.Priority, actual.Priority);
        Assert.Equal(expected.Preemptible, actual.Preemptible);
        Assert.Equal(expected.MaxRuntime, actual.MaxRuntime);
        Assert.Equal(expected.Retry, actual.Retry);
    }

    public static void Attempt(JobAttempt expected, JobAttempt actual)
    {
        Assert.Equal(expected.Number, actual.Number);
        Assert.Equal(Make.Ms(expected.StartedAt), actual.StartedAt);
        Assert.Equal(Make.Ms(expected.EndedAt), actual.EndedAt);
        Assert.Equal(expected.ExitCode, actual.ExitCode);
        Assert.Equal(expected.Outcome, actual.Outcome);
        Assert.Equal(expected.Placement.Count, actual.Placement.Count);
        for (var i = 0; i < expected.Placement.Count; i++)
        {
            Assert.Equal(expected.Placement[i].Rank, actual.Placement[i].Rank);
            Assert.Equal(expected.Placement[i].Node, actual.Placement[i].Node);
            Assert.Equal(expected.Placement[i].AcceleratorIndices, actual.Placement[i].AcceleratorIndices);
        }
    }

    public static void Resources(ResourceVector expected, ResourceVector actual)
    {
        Assert.Equal(expected.CpuMillis, actual.CpuMillis);
        Assert.Equal(expected.MemoryBytes, actual.MemoryBytes);
        Assert.Equal(expected.Accelerators.ToList(), actual.Accelerators.ToList());
    }

    public static void Pool(Pool expected, Pool actual)
    {
        Assert.Equal(expected with { CreatedAt = Make.Ms(expected.CreatedAt) }, actual);
    }

    public static void Node(Node expected, Node actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Pool, actual.Pool);
        Resources(expected.Capacity, actual.Capacity);
        Resources(expected.Allocatable, actual.Allocatable);
        Dictionary(expected.Labels, actual.Labels);
        Assert.Equal(expected.Accelerators, actual.Accelerators);
        Assert.Equal(expected.State, actual.State);
        Assert.Equal(expected.StateReason, actual.StateReason);
        Assert.Equal(Make.Ms(expected.UpdatedAt), actual.UpdatedAt);
    }

    public static void Project(Project expected, Project actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Description, actual.Description);
        Assert.Equal(expected.Quota.CpuMillis, actual.Quota.CpuMillis);
        Assert.Equal(expected.Quota.MemoryBytes, actual.Quota.MemoryBytes);
        Assert.Equal(expected.Quota.Accelerators, actual.Quota.Accelerators);
        Dictionary(expected.Quota.AcceleratorsByType, actual.Quota.AcceleratorsByType);
        Assert.Equal(Make.Ms(expected.CreatedAt), actual.CreatedAt);
    }

    public static void User(User expected, User actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.IsAdmin, actual.IsAdmin);
        Dictionary(expected.Roles, actual.Roles);
        Assert.Equal(Make.Ms(expected.CreatedAt), actual.CreatedAt);
    }

    public static void Token(ApiToken expected, ApiToken actual)
    {
        Assert.Equal(
            expected with
            {
                CreatedAt = Make.Ms(expected.CreatedAt),
                ExpiresAt = Make.Ms(expected.ExpiresAt),
                RevokedAt = Make.Ms(expected.RevokedAt),
            },
            actual);
    }

    public static void Dictionary<TValue>(IReadOnlyDictionary<string, TValue> expected, IReadOnlyDictionary<string, TValue> actual)
    {
        Assert.Equal(
            expected.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList(),
            actual.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList());
    }
}
