package kafka

import (
	"reflect"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsKey is ApiVersions' api key: its response header is never
// flexible, and a version it does not know is answered in v0 form.
const apiVersionsKey = 18

var kerrUnsupportedVersion = kerr.UnsupportedVersion.Code

// api is one API the server serves: the version range it advertises and
// its handler. A handler must answer the request exactly once, with
// r.respond or r.noResponse, now or later.
type api struct {
	min, max int16
	handle   func(s *Server, r *request)
}

// apis is every API served, by key; ApiVersions advertises exactly these.
// Filled in init because the ApiVersions handler reads it.
var apis map[int16]api

func init() {
	apis = map[int16]api{
		0:  {0, 11, handleProduce}, // v0-v2 (message format 0/1) are answered UNSUPPORTED_VERSION per partition
		1:  {4, 13, handleFetch},
		2:  {1, 8, handleListOffsets},
		3:  {0, 12, handleMetadata},
		8:  {0, 8, handleOffsetCommit},
		9:  {0, 8, handleOffsetFetch},
		10: {0, 4, handleFindCoordinator},
		11: {0, 9, handleJoinGroup},
		12: {0, 4, handleHeartbeat},
		13: {0, 5, handleLeaveGroup},
		14: {0, 5, handleSyncGroup},
		15: {0, 5, handleDescribeGroups},
		16: {0, 4, handleListGroups},
		18: {0, 4, handleAPIVersions},
		19: {0, 7, handleCreateTopics},
		20: {0, 6, handleDeleteTopics},
		21: {0, 2, handleDeleteRecords},
		22: {0, 4, handleInitProducerID},
		23: {0, 4, handleOffsetForLeaderEpoch},
		32: {0, 4, handleDescribeConfigs},
		33: {0, 2, handleAlterConfigs},
		37: {0, 3, handleCreatePartitions},
		42: {0, 2, handleDeleteGroups},
		44: {0, 1, handleIncrementalAlterConfigs},
		47: {0, 0, handleOffsetDelete},
		60: {0, 1, handleDescribeCluster},
	}
}

func handleAPIVersions(s *Server, r *request) {
	r.respond(apiVersionsResponse(0))
}

// apiVersionsResponse lists the served APIs, by key, with errorCode.
func apiVersionsResponse(errorCode int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = errorCode
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		a := apis[k]
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, ak)
	}
	return resp
}

// unsupportedResponse answers a request the server decoded but does not
// serve (an API it does not advertise, or a version outside the advertised
// range): the response of the request's kind with its top-level ErrorCode
// set to UNSUPPORTED_VERSION and its ErrorMessage, if it has one, saying
// so. Responses without a top-level error field go back empty, which
// clients read as "nothing done".
func unsupportedResponse(req kmsg.Request) kmsg.Response {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	v := reflect.ValueOf(resp).Elem()
	if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 && f.CanSet() {
		f.SetInt(int64(kerrUnsupportedVersion))
	}
	if f := v.FieldByName("ErrorMessage"); f.IsValid() && f.Type() == reflect.TypeFor[*string]() && f.CanSet() {
		msg := "millrace does not serve " + kmsg.NameForKey(req.Key()) + " at this version"
		f.Set(reflect.ValueOf(&msg))
	}
	return resp
}
