package sdk

import (
	"fmt"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// editPB converts one of the ten edits for the wire. Pointers to edits
// (which also satisfy Edit) are accepted; nil is an error.
func editPB(e Edit) (*pb.Edit, error) {
	e, err := derefEdit(e)
	if err != nil {
		return nil, err
	}
	switch e := e.(type) {
	case AddHeader:
		return &pb.Edit{Op: &pb.Edit_AddHeader{AddHeader: &pb.AddHeader{Name: e.Name, Value: e.Value}}}, nil
	case InsertHeader:
		i, err := u32("header index", e.Index)
		if err != nil {
			return nil, err
		}
		return &pb.Edit{Op: &pb.Edit_InsertHeader{InsertHeader: &pb.InsertHeader{Index: i, Name: e.Name, Value: e.Value}}}, nil
	case ChangeHeader:
		n, err := u32("header occurrence", e.Occurrence)
		if err != nil {
			return nil, err
		}
		return &pb.Edit{Op: &pb.Edit_ChangeHeader{ChangeHeader: &pb.ChangeHeader{Name: e.Name, Occurrence: n, Value: e.Value}}}, nil
	case DeleteHeader:
		n, err := u32("header occurrence", e.Occurrence)
		if err != nil {
			return nil, err
		}
		return &pb.Edit{Op: &pb.Edit_DeleteHeader{DeleteHeader: &pb.DeleteHeader{Name: e.Name, Occurrence: n}}}, nil
	case SetSender:
		return &pb.Edit{Op: &pb.Edit_SetSender{SetSender: &pb.SetSender{Addr: e.Addr, Params: params(e.Params)}}}, nil
	case AddRecipient:
		return &pb.Edit{Op: &pb.Edit_AddRecipient{AddRecipient: &pb.AddRecipient{Addr: e.Addr, Params: params(e.Params)}}}, nil
	case RemoveRecipient:
		return &pb.Edit{Op: &pb.Edit_RemoveRecipient{RemoveRecipient: &pb.RemoveRecipient{Addr: e.Addr}}}, nil
	case ReplaceBody:
		return &pb.Edit{Op: &pb.Edit_ReplaceBody{ReplaceBody: &pb.ReplaceBody{}}}, nil
	case SetRoute:
		return &pb.Edit{Op: &pb.Edit_SetRoute{SetRoute: &pb.SetRoute{Rcpt: e.Rcpt, Route: e.Route}}}, nil
	case SetNote:
		return &pb.Edit{Op: &pb.Edit_SetNote{SetNote: &pb.SetNote{Key: e.Key, Value: e.Value}}}, nil
	}
	return nil, fmt.Errorf("unknown edit type %T", e)
}

// derefEdit turns a pointer to an edit into the edit's value.
func derefEdit(e Edit) (Edit, error) {
	var v Edit
	switch p := e.(type) {
	case nil:
		return nil, fmt.Errorf("nil edit")
	case *AddHeader:
		v = deref(p)
	case *InsertHeader:
		v = deref(p)
	case *ChangeHeader:
		v = deref(p)
	case *DeleteHeader:
		v = deref(p)
	case *SetSender:
		v = deref(p)
	case *AddRecipient:
		v = deref(p)
	case *RemoveRecipient:
		v = deref(p)
	case *ReplaceBody:
		v = deref(p)
	case *SetRoute:
		v = deref(p)
	case *SetNote:
		v = deref(p)
	default:
		return e, nil
	}
	if v == nil {
		return nil, fmt.Errorf("nil %T edit", e)
	}
	return v, nil
}

func deref[T Edit](p *T) Edit {
	if p == nil {
		return nil
	}
	return *p
}

func editFromPB(p *pb.Edit) (Edit, error) {
	switch op := p.GetOp().(type) {
	case *pb.Edit_AddHeader:
		return AddHeader{Name: op.AddHeader.GetName(), Value: op.AddHeader.GetValue()}, nil
	case *pb.Edit_InsertHeader:
		return InsertHeader{Index: int(op.InsertHeader.GetIndex()), Name: op.InsertHeader.GetName(), Value: op.InsertHeader.GetValue()}, nil
	case *pb.Edit_ChangeHeader:
		return ChangeHeader{Name: op.ChangeHeader.GetName(), Occurrence: int(op.ChangeHeader.GetOccurrence()), Value: op.ChangeHeader.GetValue()}, nil
	case *pb.Edit_DeleteHeader:
		return DeleteHeader{Name: op.DeleteHeader.GetName(), Occurrence: int(op.DeleteHeader.GetOccurrence())}, nil
	case *pb.Edit_SetSender:
		return SetSender{Addr: op.SetSender.GetAddr(), Params: params(op.SetSender.GetParams())}, nil
	case *pb.Edit_AddRecipient:
		return AddRecipient{Addr: op.AddRecipient.GetAddr(), Params: params(op.AddRecipient.GetParams())}, nil
	case *pb.Edit_RemoveRecipient:
		return RemoveRecipient{Addr: op.RemoveRecipient.GetAddr()}, nil
	case *pb.Edit_ReplaceBody:
		return ReplaceBody{}, nil
	case *pb.Edit_SetRoute:
		return SetRoute{Rcpt: op.SetRoute.GetRcpt(), Route: op.SetRoute.GetRoute()}, nil
	case *pb.Edit_SetNote:
		return SetNote{Key: op.SetNote.GetKey(), Value: op.SetNote.GetValue()}, nil
	}
	return nil, fmt.Errorf("edit with no operation")
}
