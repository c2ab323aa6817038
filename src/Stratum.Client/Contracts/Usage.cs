namespace Stratum.Client.Contracts;

/// <summary>What one group (a project, user, pool, job or day) used in the window, and what it cost.</summary>
public sealed record UsageRowDto(string Key, double GpuHours, double CpuHours, double MemoryGbHours, decimal Cost, string Currency, int Jobs, BudgetDto? Budget = null);

/// <summary>A project's monthly budget and its spend since the start of the current UTC month (rows grouped by project only).</summary>
public sealed record BudgetDto(decimal Monthly, string Currency, decimal SpentThisMonth, double Used, IReadOnlyList<decimal> Thresholds, IReadOnlyList<decimal> Reached);

/// <summary>GET /api/v1/usage: usage grouped by <see cref="By"/> over [Since, Until).</summary>
public sealed record UsageReportDto(string By, DateTimeOffset Since, DateTimeOffset Until, IReadOnlyList<UsageRowDto> Rows, UsageRowDto Total);
