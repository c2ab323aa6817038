using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: TestFramework("Stratum.Storage.S3.Tests.S3TestFramework", "Stratum.Storage.S3.Tests")]

namespace Stratum.Storage.S3.Tests;

/// <summary>
/// Marks a test class that needs the s3rver test server: its tests are skipped, with the reason, where there
/// is none. <see cref="Unsupported"/> names inherited tests s3rver itself cannot pass (not the backend).
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresS3rverAttribute : Attribute
{
    /// <summary>Test method names skipped with <see cref="UnsupportedReason"/>.</summary>
    public string[] Unsupported { get; init; } = [];

    public string UnsupportedReason { get; init; } = "";
}

/// <summary>
/// xunit 2 has no way for a running test to skip itself, and the conformance suite's tests are plain
/// [Fact]s and [Theory]s inherited from another project. Where <see cref="S3rverServer.SkipReason"/> is set,
/// this framework reports every test method of a class marked <see cref="RequiresS3rverAttribute"/> as one
/// skipped case carrying that reason; otherwise discovery is xunit's own.
/// </summary>
public sealed class S3TestFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    protected override ITestFrameworkDiscoverer CreateDiscoverer(IAssemblyInfo assemblyInfo) =>
        new Discoverer(assemblyInfo, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Discoverer(IAssemblyInfo assemblyInfo, ISourceInformationProvider sourceProvider, IMessageSink diagnosticMessageSink)
        : XunitTestFrameworkDiscoverer(assemblyInfo, sourceProvider, diagnosticMessageSink)
    {
        protected override bool FindTestsForMethod(ITestMethod testMethod, bool includeSourceInformation, IMessageBus messageBus, ITestFrameworkDiscoveryOptions discoveryOptions)
        {
            var isTest = testMethod.Method.GetCustomAttributes(typeof(FactAttribute)).Any();
            if (!isTest || SkipReason(testMethod) is null)
            {
                return base.FindTestsForMethod(testMethod, includeSourceInformation, messageBus, discoveryOptions);
            }

            var testCase = new SkippedTestCase(
                DiagnosticMessageSink,
                discoveryOptions.MethodDisplayOrDefault(),
                discoveryOptions.MethodDisplayOptionsOrDefault(),
                testMethod);
            return ReportDiscoveredTestCase(testCase, includeSourceInformation, messageBus);
        }
    }

    /// <summary>Why a test of a class marked <see cref="RequiresS3rverAttribute"/> cannot run here; null when it can.</summary>
    internal static string? SkipReason(ITestMethod testMethod)
    {
        var marker = testMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresS3rverAttribute)).FirstOrDefault();
        if (marker is not ReflectionAttributeInfo { Attribute: RequiresS3rverAttribute requires })
        {
            return null;
        }

        return S3rverServer.SkipReason
            ?? (requires.Unsupported.Contains(testMethod.Method.Name, StringComparer.Ordinal) ? requires.UnsupportedReason : null);
    }
}

/// <summary>A test (a theory as one case, its data never expanded) skipped because s3rver is missing or cannot pass it.</summary>
public sealed class SkippedTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public SkippedTestCase()
    {
    }

    public SkippedTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    // A null reason means "run"; xunit 2 predates nullable annotations.
    protected override string GetSkipReason(IAttributeInfo factAttribute) =>
        S3TestFramework.SkipReason(TestMethod) ?? base.GetSkipReason(factAttribute)!;
}
